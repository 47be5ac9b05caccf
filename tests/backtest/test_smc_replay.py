"""The batch replay of SMC events drives the SMC strategy exactly like the streaming SMCStream."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.backtest.smc_replay import candles_of, replay_source
from smc_agent.core.errors import DataError
from smc_agent.smc.config import SMCConfig
from smc_agent.strategy.smc_structure import SmcStructure
from tests.backtest._data import load_candles


def test_replay_equals_stream_on_real_data() -> None:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    data = data.between(None, int(data.open_time[8000]))
    config = BacktestConfig()
    replayed = run_backtest(SmcStructure(), data, config)
    streamed = run_backtest(SmcStructure(), data, replace(config, smc_mode="stream"))
    assert len(replayed.trades) > 3
    assert replayed.trades == streamed.trades
    assert replayed.stats == streamed.stats


def test_replay_refuses_an_unexpected_candle() -> None:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_1h.csv", symbol="BTC/USDT", timeframe="1h")
    candles = candles_of(data.between(None, int(data.open_time[100])), "4h")
    assert [c.open_time % (4 * 3_600_000) for c in candles] == [0] * len(candles)
    source = replay_source(candles, "4h", SMCConfig())
    source.update(candles[0])
    with pytest.raises(DataError, match="expected"):
        source.update(candles[2])
