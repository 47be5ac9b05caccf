"""The backtest CLI on bad input: one line saying why and exit status 2, never a traceback or a silent
success; what a run produced is written as valid JSON."""

import html
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from smc_agent.backtest.stats import compute_stats
from smc_agent.backtest.sweep import METRICS
from smc_agent.cli.backtest import app

runner = CliRunner()

WINNER = """
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param


class Win(Strategy):
    hold = Param(int, 50, low=1)

    def on_start(self, **kwargs):
        self.seen = 0

    def on_candle(self, candle):
        self.seen += 1
        if self.seen == 60:
            self.buy(qty=1)
        if self.seen == 60 + self.hold:
            self.close()
"""


def rising_csv(tmp_path: Path, bars: int = 200) -> Path:
    """Hourly candles rising 1% a bar: a long trade only wins (profit factor infinite)."""
    close = [100.0 * 1.01**i for i in range(bars)]
    frame = pd.DataFrame(
        {
            "timestamp_ms": [1_704_067_200_000 + i * 3_600_000 for i in range(bars)],
            "open": close,
            "high": [c * 1.001 for c in close],
            "low": [c * 0.999 for c in close],
            "close": close,
            "volume": 10.0,
        }
    )
    path = tmp_path / "sim_spot_BTCUSDT_1h.csv"
    frame.to_csv(path, index=False)
    return path


def _strict(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("walk", [[], ["--walk-forward", "2"]])
def test_a_sweeps_json_is_valid_with_an_infinite_profit_factor(tmp_path: Path, walk: list[str]) -> None:
    """The sweep wrote ``Infinity`` (not JSON); it now maps non-finite figures as the single run does."""
    (tmp_path / "win.py").write_text(WINNER)
    args = ["sweep", "--data", str(rising_csv(tmp_path)), "--strategy", f"{tmp_path / 'win.py'}:Win"]
    result = runner.invoke(
        app, [*args, *walk, "--grid", "hold=10,20", "--workers", "1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    doc = _strict((tmp_path / "sweep_Win_sim_BTCUSDT_1h.json").read_text())
    assert isinstance(doc, list)
    stats = (
        [row["stats"] for row in doc]
        if not walk
        else [f[k] for f in doc for k in ("train_stats", "test_stats")]
    )
    assert stats and all(s["profit_factor"] == "inf" for s in stats)


def test_an_unknown_metric_is_refused_listing_the_valid_ones(tmp_path: Path) -> None:
    """It was accepted and ranked every row NaN."""
    args = ["sweep", "--data", str(rising_csv(tmp_path)), "--strategy", "sma_cross", "--grid", "fast=5,10"]
    for walk in ([], ["--walk-forward", "2"]):
        result = runner.invoke(app, [*args, *walk, "--metric", "bogus", "--out", str(tmp_path / "out")])
        assert result.exit_code == 2, result.output
        assert "unknown metric 'bogus'; rank by one of: sharpe, sortino" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("top", ["0", "-1"])
def test_a_top_that_shows_no_rows_is_refused(tmp_path: Path, top: str) -> None:
    # --top -1 showed every row but the last, titled "top -1 of N"
    args = ["sweep", "--data", str(rising_csv(tmp_path)), "--strategy", "sma_cross", "--grid", "fast=5,10"]
    result = runner.invoke(app, [*args, "--top", top, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "--top" in result.output and not (tmp_path / "out").exists()


def test_every_statistic_that_differs_between_runs_is_a_metric() -> None:
    stats = compute_stats(
        equity=np.array([1.0, 1.0001]),
        times=np.array([0, 3_600_000], dtype=np.int64),
        bar_ms=3_600_000,
        trades=[],
        fees=Decimal(0),
        exposure_bars=0,
        closes=np.array([1.0, 2.0]),
    )
    numeric = {key for key, value in stats.items() if isinstance(value, int | float)}
    assert set(METRICS) == numeric - {"start", "end", "bars", "start_equity", "buy_and_hold_return"}


MARKER = """
from pathlib import Path

from smc_agent.strategy.base import Strategy


class Marker(Strategy):
    def on_start(self, **kwargs):
        Path(__file__).with_suffix(".ran").touch()

    def on_candle(self, candle):
        pass
"""


def test_a_bad_timeframe_fill_rule_worker_count_or_out_path_is_refused_before_any_run(tmp_path: Path) -> None:
    """Each was a traceback (exit 1); an --out that is a file was found only after the run."""
    csv = rising_csv(tmp_path)
    (tmp_path / "marker.py").write_text(MARKER)
    strategy = ["--strategy", f"{tmp_path / 'marker.py'}:Marker"]
    afile = tmp_path / "afile"
    afile.write_text("kept")
    cases = [
        (["--data", str(csv), "--timeframe", "xx"], "bad timeframe 'xx': expected e.g. 1m"),
        (["--data", "binance:BTC/USDT:xx"], "bad timeframe 'xx': expected e.g. 1m"),
        (["--data", str(csv), "--out", str(afile)], f"--out: {afile} is a file, not a directory"),
        (["--data", str(csv), "--out", str(afile / "sub")], f"--out: {afile} is a file, not a directory"),
        (["sweep", "--data", str(csv), "--out", str(afile)], f"--out: {afile} is a file, not a directory"),
        (["--data", str(csv), "--param", "fast"], "--param expects k=v, got 'fast'"),
        (
            ["--data", str(csv), "--param", "hold=5", "--param", "hold=9"],
            "--param hold given twice ('5', '9')",
        ),
        (["sweep", "--data", str(csv), "--grid", "hold="], "--grid expects k=v1,v2,..., got 'hold='"),
        (["sweep", "--data", str(csv), "--grid", "hold=1", "--grid", "hold=2"], "--grid hold given twice"),
        (
            ["--data", str(csv), "--take-profit-fill", "maker"],
            "take-profit fill must be one of ('market', 'limit'), got 'maker'",
        ),
        (
            ["sweep", "--data", str(csv), "--workers", "-1"],
            "--workers must be at least 1 (default: all cores)",
        ),
        (
            ["sweep", "--data", str(csv), "--workers", "0"],
            "--workers must be at least 1 (default: all cores)",
        ),
    ]
    for args, words in cases:
        result = runner.invoke(app, [*args, *strategy])
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output and len(result.output.splitlines()) == 1, (args, result.output)
    assert afile.read_text() == "kept"
    assert not (tmp_path / "marker.ran").exists()  # refused before the strategy started


def test_a_database_without_its_schema_says_to_upgrade_and_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh data directory's database has no tables: it was a traceback ("no such table: candles")."""
    monkeypatch.delenv("SMC_DATABASE_URL", raising=False)
    monkeypatch.setenv("SMC_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["--data", "binance:BTC/USDT:1h", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert (
        "the database has no schema (no candles table): run `smc-agent db upgrade`, then "
        "`smc-agent data download binance BTC/USDT 1h --since ... --until ...`"
    ) in result.output
    assert not (tmp_path / "out").exists()


BROKEN = """
from smc_agent.strategy.base import Strategy


class Broken(Strategy):
    def __init__(self, **params):
        raise RuntimeError("init fails")

    def on_candle(self, candle):
        pass
"""


def test_a_strategy_that_exits_at_import_or_raises_in_init_is_refused(tmp_path: Path) -> None:
    """SystemExit(0) at import ended the command with exit 0 and no report; an ``__init__`` that raised was
    a traceback. Both are refused like a strategy file that fails to load, or a failing check_params."""
    csv = rising_csv(tmp_path)
    (tmp_path / "quits.py").write_text("raise SystemExit(0)\n")
    (tmp_path / "broken.py").write_text(BROKEN)
    out = tmp_path / "out"
    cases = [
        ([], "quits.py:X", "quits.py failed to load: SystemExit: 0"),
        ([], "broken.py:Broken", "strategy Broken failed to start: RuntimeError: init fails"),
        (["sweep"], "quits.py:X", "quits.py failed to load: SystemExit: 0"),
        (["sweep"], "broken.py:Broken", "strategy Broken failed to start: RuntimeError: init fails"),
    ]
    for command, spec, words in cases:
        args = [*command, "--data", str(csv), "--strategy", str(tmp_path / spec), "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output.splitlines()[-1], (args, result.output)  # after the sweep's progress
    assert not out.exists()


def test_from_and_to_in_epoch_seconds_are_refused_like_a_csvs_times(tmp_path: Path) -> None:
    """``--from 1704067200`` (seconds) was read as milliseconds: 1970-01-20, the whole file."""
    args = ["--data", str(rising_csv(tmp_path)), "--strategy", "sma_cross", "--out", str(tmp_path / "out")]
    for option, value, unit in [
        ("--from", "1704067200", "seconds"),
        ("--to", "1704153600", "seconds"),
        ("--from", "1704067200000000", "micro- or nanoseconds"),
    ]:
        result = runner.invoke(app, [*args, option, value])
        assert result.exit_code == 2, (option, value, result.output)
        assert f"{option} {value} looks like epoch {unit}: give epoch milliseconds or a date" in result.output
    assert not (tmp_path / "out").exists()
    ok = runner.invoke(app, [*args, "--from", "1704081600000", "--to", "1704153600000"])  # 04:00 to the 2nd
    assert ok.exit_code == 0, ok.output
    stats = json.loads((tmp_path / "out" / "backtest_sma_cross_sim_BTCUSDT_1h.json").read_text())["stats"]
    assert (stats["start"], stats["bars"]) == (1704081600000, 20)


@pytest.mark.parametrize("column", ["open", "low", "close"])
def test_a_csv_with_a_zero_price_is_refused(tmp_path: Path, column: str) -> None:
    """A price of 0 passes the OHLC checks (0 <= low <= open) but cannot be traded: sizing divides by
    it and the collar takes any price against it. Refused, naming the row."""
    path = rising_csv(tmp_path)
    frame = pd.read_csv(path)
    frame.loc[120, ["open", "low", "close"] if column != "open" else ["open", "low"]] = 0.0
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["--data", str(path), "--strategy", "sma_cross", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "row 120 (line 122 of the file): open is 0 (a price must be positive" in text  # open: the first
    assert "Traceback" not in result.output and not list(tmp_path.glob("*.json"))


def test_repair_drops_rows_with_a_zero_price_and_says_so(tmp_path: Path) -> None:
    path = rising_csv(tmp_path)
    frame = pd.read_csv(path)
    frame.loc[[40, 120], ["open", "low"]] = 0.0
    frame.to_csv(path, index=False)
    args = ["--data", str(path), "--strategy", "sma_cross", "--out", str(tmp_path), "--repair"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "repaired: dropped 2 rows with a price of 0" in result.output
    stats = json.loads(next(tmp_path.glob("*.json")).read_text())["stats"]
    assert stats["bars"] == len(frame) - 2


def test_candles_off_the_timeframes_grid_are_said_before_the_run(tmp_path: Path) -> None:
    # 1h candles opening at :07 were taken silently: the higher timeframes built from them close late
    frame = pd.read_csv(rising_csv(tmp_path))
    frame["timestamp_ms"] += 7 * 60_000
    path = tmp_path / "sim_spot_BTCUSDT_1h.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["--data", str(path), "--strategy", "sma_cross", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        f"{len(frame):,} candle(s) off the 1h grid from 00:00 UTC (row 0 opens 2024-01-01 00:07:00 UTC)"
        in text
    )


def test_gaps_in_the_candles_are_reported_before_the_run(tmp_path: Path) -> None:
    path = rising_csv(tmp_path)
    frame = pd.read_csv(path)
    frame = frame.drop(index=[*range(50, 53), 150]).reset_index(drop=True)  # 3 hours, then 1 hour
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["--data", str(path), "--strategy", "sma_cross", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        "warning: 2 gap(s) in the candles, 4 1h candle(s) missing (the largest after 2024-01-03 01:00 UTC)"
        in text
    )
    clean = runner.invoke(
        app, ["--data", str(rising_csv(tmp_path)), "--strategy", "sma_cross", "--out", str(tmp_path)]
    )
    assert clean.exit_code == 0 and "warning" not in clean.output


def _refused(tmp_path: Path, frame: pd.DataFrame, *extra: str) -> str:
    path = tmp_path / "sim_spot_BTCUSDT_1h.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(
        app, ["--data", str(path), "--strategy", "sma_cross", "--out", str(tmp_path), *extra]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not list(tmp_path.glob("*.json"))
    return " ".join(result.output.split())


def test_a_csv_without_volume_is_refused(tmp_path: Path) -> None:
    # it ran with volume 0: under --max-participation nothing ever filled, 0 trades and exit 0
    frame = pd.read_csv(rising_csv(tmp_path)).drop(columns=["volume"])
    assert "no volume column" in _refused(tmp_path, frame, "--max-participation", "0.1")


def test_a_time_column_partly_in_epoch_seconds_is_refused_at_its_first_such_row(tmp_path: Path) -> None:
    # the check read only the smallest and largest time: the first half in seconds was traded as
    # candles 3.6 s apart in January 1970
    frame = pd.read_csv(rising_csv(tmp_path))
    frame.loc[:99, "timestamp_ms"] //= 1000
    assert "row 0 (line 2 of the file): 1704067200 looks like epoch seconds" in _refused(tmp_path, frame)


def test_a_time_too_large_for_any_clock_is_refused_at_its_own_row(tmp_path: Path) -> None:
    # 1e30 was cast to -2**63 (with a numpy warning) and the next row was blamed for it
    frame = pd.read_csv(rising_csv(tmp_path)).astype({"timestamp_ms": "float64"})
    frame.loc[50, "timestamp_ms"] = 1e30
    assert "row 50 (line 52 of the file): 1e+30 is not a time (expected epoch milliseconds)" in _refused(
        tmp_path, frame
    )


def test_times_out_of_step_are_refused(tmp_path: Path) -> None:
    frame = pd.read_csv(rising_csv(tmp_path))
    frame.loc[100:, "timestamp_ms"] -= 1_800_000  # half an hour back from row 100 on
    assert "row 100 (line 102 of the file) opens 1,800 s after the row before it" in _refused(tmp_path, frame)


@pytest.mark.parametrize("repair", [False, True])
def test_dates_are_read_in_one_order_of_day_and_month(tmp_path: Path, repair: bool) -> None:
    # read row by row, 02/01/2024 was taken month first and 13/01/2024 day first: a scrambled series
    # that --repair sorted and traded. Day first throughout when month first cannot read them all
    frame = pd.read_csv(rising_csv(tmp_path, bars=600))
    frame["date"] = pd.to_datetime(frame.pop("timestamp_ms"), unit="ms").dt.strftime("%d/%m/%Y %H:%M")
    path = tmp_path / "sim_spot_BTCUSDT_1h.csv"
    frame.to_csv(path, index=False)
    args = ["--data", str(path), "--strategy", "sma_cross", "--out", str(tmp_path)]
    result = runner.invoke(app, args + (["--repair"] if repair else []))
    assert result.exit_code == 0, result.output
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert doc["stats"]["start"] == 1_704_067_200_000  # 2024-01-01 00:00, as written


def test_dates_in_two_formats_with_day_and_month_ambiguous_are_refused(tmp_path: Path) -> None:
    frame = pd.read_csv(rising_csv(tmp_path, bars=600))
    when = pd.to_datetime(frame.pop("timestamp_ms"), unit="ms")
    frame["date"] = when.dt.strftime("%d/%m/%Y %H:%M").where(
        when.index < 300, when.dt.strftime("%Y-%m-%d %H:%M")
    )
    assert "day and month in either order" in _refused(tmp_path, frame)


def test_a_starting_cash_beyond_what_money_arithmetic_holds_is_refused(tmp_path: Path) -> None:
    path = rising_csv(tmp_path)
    for cash in ("1e400", "1e13"):
        result = runner.invoke(
            app, ["--data", str(path), "--strategy", "sma_cross", "--cash", cash, "--out", str(tmp_path)]
        )
        assert result.exit_code == 2, result.output
        assert "starting cash must be positive and at most 1,000,000,000,000" in " ".join(
            result.output.split()
        )


def test_rows_out_of_step_are_refused_or_moved_onto_the_grid_as_a_download_would(tmp_path: Path) -> None:
    # Binance's 1h klines of 2018-02-09..11 open at :28:14 between on-the-hour rows: the file was refused
    # even with --repair, which `data download` repairs by moving them down onto the hour
    frame = pd.read_csv(rising_csv(tmp_path))
    hour = 3_600_000
    frame.loc[100:109, "timestamp_ms"] += 28 * 60_000 + 14_789  # ten candles at :28:14
    # and one more at :28:14 whose hour already has its candle: the one on the hour stays
    late = frame.loc[[150]].assign(timestamp_ms=frame.loc[150, "timestamp_ms"] + 28 * 60_000)
    frame = pd.concat([frame.loc[:150], late, frame.loc[151:]], ignore_index=True)
    path = tmp_path / "sim_spot_BTCUSDT_1h.csv"
    frame.to_csv(path, index=False)
    args = ["--data", str(path), "--strategy", "sma_cross", "--out", str(tmp_path)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "row 110 (line 112 of the file) opens 1,905 s after the row before it" in " ".join(
        refused.output.split()
    )
    result = runner.invoke(app, [*args, "--repair"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        "repaired: 10 rows off the 1h grid moved onto it, 1 that then fell on another row's time dropped"
        in text
    )
    assert "off the 1h grid from 00:00" not in text  # nothing left off it
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert report["stats"]["bars"] == len(frame) - 1
    times = report["equity_curve"]["open_time"]
    assert len(times) == len(frame) - 1 and all(t % hour == 0 for t in times)
    assert set(np.diff(times)) == {hour}


def test_a_sweep_says_which_runs_a_breaker_stopped_part_way(tmp_path: Path) -> None:
    # a run the 25% drawdown breaker halted for good was ranked beside complete runs without a word
    path = rising_csv(tmp_path)
    frame = pd.read_csv(path)
    falling = frame[["open", "high", "low", "close"]].to_numpy()[::-1].copy()  # falling 1% a bar
    frame[["open", "high", "low", "close"]] = falling
    frame.to_csv(path, index=False)
    (tmp_path / "win.py").write_text(WINNER.replace("self.buy(qty=1)", "self.buy(qty=20)"))  # 80% of equity
    args = ["sweep", "--data", str(path), "--strategy", f"{tmp_path / 'win.py'}:Win", "--grid", "hold=2,100"]
    result = runner.invoke(app, [*args, "--workers", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = {
        row["params"]["hold"]: row
        for row in json.loads((tmp_path / "sweep_Win_sim_BTCUSDT_1h.json").read_text())
    }
    assert rows[2]["note"] == ""  # out after two bars: 2% down
    note = rows[100]["note"]
    assert note.startswith("trading halted from 2024-01-0") and "to the end: max_drawdown" in note, note
    assert rows[100]["error"] == ""
    assert f"<td>{html.escape(note)}</td>" in (tmp_path / "sweep_Win_sim_BTCUSDT_1h.html").read_text()


def test_an_out_directory_nothing_can_be_written_in_is_refused_before_the_run(tmp_path: Path) -> None:
    # the run went to its end, then making the directory failed: a traceback, the results lost
    args = ["--data", str(rising_csv(tmp_path)), "--strategy", "sma_cross", "--out", "/proc/smc-reports"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--out: nothing can be written in /proc" in result.output, result.output
    assert "sma_cross" not in result.output.split("--out")[0]  # refused before the run, nothing printed
    assert not list(tmp_path.glob("*.json"))
