import math

from smc_agent.backtest.sweep import SweepRow
from smc_agent.backtest.sweep_report import sweep_figure, sweep_html


def _rows() -> list[SweepRow]:
    rows = []
    for fast in ("10", "5"):
        for slow in ("100", "50"):
            for qty in ("1", "2"):
                value = int(fast) * 1000 + int(slow) + int(qty) / 10
                rows.append(
                    SweepRow(
                        {"fast": fast, "slow": slow, "qty": qty}, {"sharpe": value, "max_drawdown": value}
                    )
                )
    rows.append(SweepRow({"fast": "20", "slow": "50", "qty": "1"}, {}, "ConfigError: refused"))
    return rows


def test_the_heatmap_shows_the_best_run_per_cell_in_numeric_order() -> None:
    trace = sweep_figure(_rows(), "sharpe").data[0]
    assert trace.type == "heatmap"
    assert list(trace.x) == ["5", "10", "20"] and list(trace.y) == ["50", "100"]  # numbers, not text order
    assert trace.z[0][0] == 5050.2 and trace.z[1][1] == 10100.2  # best over the third parameter (qty=2)
    assert math.isnan(trace.z[0][2]) and math.isnan(trace.z[1][2])  # the refused run has no value
    worse = sweep_figure(_rows(), "max_drawdown").data[0]
    assert worse.z[0][0] == 5050.1  # lower is better for a drawdown
    assert "best over qty" in sweep_figure(_rows(), "sharpe").layout.title.text


def test_one_parameter_is_a_line_and_the_page_lists_every_run() -> None:
    rows = [SweepRow({"fast": f}, {"sharpe": float(f)}) for f in ("20", "5", "10")]
    trace = sweep_figure(rows, "sharpe").data[0]
    assert (
        trace.type == "scatter" and list(trace.x) == ["5", "10", "20"] and list(trace.y) == [5.0, 10.0, 20.0]
    )
    page = sweep_html(_rows(), "sharpe", "sweep <x>")
    assert "sweep &lt;x&gt;" in page and page.count("<tr><td>") == 9 and "ConfigError: refused" in page
