"""The backtest CLI on bad input: one line saying why and exit status 2, never a traceback or a silent
success; what a run produced is written as valid JSON."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

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
    doc = _strict((tmp_path / "sweep_Win_BTCUSDT_1h.json").read_text())
    assert isinstance(doc, list)
    stats = (
        [row["stats"] for row in doc]
        if not walk
        else [f[k] for f in doc for k in ("train_stats", "test_stats")]
    )
    assert stats and all(s["profit_factor"] == "inf" for s in stats)
