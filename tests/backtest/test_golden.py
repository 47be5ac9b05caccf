"""Golden backtests: pinned statistics of both shipped strategies on shared real data.

A rerun must reproduce every figure to the last digit (floats compared by ``repr``). After an
intended behaviour change, regenerate with ``SMC_UPDATE_GOLDEN=1 uv run pytest tests/backtest/test_golden.py``
and review the diff of ``tests/backtest/golden/*.json`` like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from smc_agent.backtest.runner import BacktestConfig, BacktestResult, run_backtest
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.sma_cross import SmaCross
from smc_agent.strategy.smc_structure import SmcStructure
from tests.backtest._data import load_candles

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "sma_cross_btc_1h": (SmaCross, ("binance_2024", "binance_spot_BTCUSDT_1h.csv", "1h")),
    "smc_btc_15m": (SmcStructure, ("binance_2024", "binance_spot_BTCUSDT_15m.csv", "15m")),
}


def snapshot(result: BacktestResult) -> dict[str, Any]:
    return {
        "stats": {k: repr(v) for k, v in result.stats.items()},
        "trades": [
            [
                t.side.value,
                str(t.qty),
                t.entry_time,
                str(t.entry_price),
                t.exit_time,
                str(t.exit_price),
                str(t.pnl),
            ]
            for t in result.trades
        ],
        "denials": len(result.denials),
        "state_changes": [s.reason for s in result.state_changes],
    }


def run_case(name: str) -> dict[str, Any]:
    make, (bundle, filename, tf) = CASES[name]
    strategy: Strategy = make()
    data = load_candles(bundle, filename, symbol="BTC/USDT", timeframe=tf)
    return snapshot(run_backtest(strategy, data, BacktestConfig()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_backtest(name: str) -> None:
    first = run_case(name)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("SMC_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(first, indent=1) + "\n")
    expected = json.loads(path.read_text())
    assert first["stats"] == expected["stats"]
    assert first["trades"] == expected["trades"]
    assert first == expected
    assert int(expected["stats"]["trades"]) > 5  # the golden run actually trades
    assert run_case(name) == first  # a rerun is identical to the last digit
