"""The example in docs/examples runs as the docs say (a user's own strategy file, loaded by path)."""

from pathlib import Path

import pytest

from smc_agent.backtest.report import to_html
from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.core.errors import ConfigError
from smc_agent.strategy.registry import load_strategy
from tests.backtest._data import load_candles

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "breakout.py"


def test_the_documented_example_strategy_trades_and_draws_what_it_acted_on() -> None:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    strategy = load_strategy(f"{EXAMPLE}:Breakout")(lookback="24")
    result = run_backtest(strategy, data.between(None, int(data.open_time[8000])), BacktestConfig())
    assert not result.failures and result.trades
    assert len(result.annotations) >= len(result.trades)  # one range per entry
    first = result.annotations[0]
    assert first["kind"] == "range" and first["top"] > first["bottom"] == first["stop"]
    page = to_html(result)
    assert page.count('"fillcolor":"rgba(22,163,74,0.25)"') >= len(result.trades)  # the range boxes
    with pytest.raises(ConfigError, match="lookback must be at least 5"):  # its check_params rule
        load_strategy(f"{EXAMPLE}:Breakout")(lookback="3")
