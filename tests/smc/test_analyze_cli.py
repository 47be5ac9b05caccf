"""`smc-agent analyze` (src/smc_agent/cli/analyze.py): chart written from a real CSV; bad input named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from typer.testing import CliRunner

from smc_agent.cli.analyze import analyze
from tests._shared import shared_file

app = typer.Typer()
app.command()(analyze)


def test_writes_html_chart_with_objects(tmp_path: Path) -> None:
    src = shared_file("ohlcv", "binance_2024", "binance_spot_BTCUSDT_1h.csv")
    csv = tmp_path / "btc.csv"
    pd.read_csv(src, nrows=1500).to_csv(csv, index=False)
    out = tmp_path / "chart.html"
    result = CliRunner().invoke(app, [str(csv), "--out", str(out), "--bars", "300"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "Candlestick".lower() in html.lower()
    assert "BOS" in html or "CHoCH" in html
    assert '"type":"rect"' in html.replace(" ", "")
    for key in (
        "order block, bullish",
        "order block, bearish",
        "FVG, bullish",
        "FVG, bearish",
        "liquidity level",
    ):
        assert key in html  # the boxes and levels have legend keys


def test_date_column_csv_is_accepted(tmp_path: Path) -> None:
    src = shared_file("smc_reference", "EURUSD_15M.csv")
    csv = tmp_path / "eur.csv"
    pd.read_csv(src, nrows=600).to_csv(csv, index=False)
    out = tmp_path / "eur.html"
    result = CliRunner().invoke(app, [str(csv), "--out", str(out), "--bars", "200"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000


def test_bad_row_is_named(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "timestamp_ms": [0, 60_000, 120_000],
            "open": [1, 1, 1],
            "high": [2, 0.5, 2],
            "low": [0.5, 1, 0.5],
            "close": [1, 1, 1],
            "volume": [1, 1, 1],
        }
    ).to_csv(csv, index=False)
    result = CliRunner().invoke(app, [str(csv), "--out", str(tmp_path / "x.html")])
    assert result.exit_code == 2
    assert "row 1" in result.output
    fixed = CliRunner().invoke(app, [str(csv), "--out", str(tmp_path / "x.html"), "--repair"])
    assert fixed.exit_code == 0, fixed.output
