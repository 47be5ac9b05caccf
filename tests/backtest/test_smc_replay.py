"""The batch replay of SMC events drives the SMC strategy exactly like the streaming SMCStream."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.backtest.smc_replay import aggregate, replay_source
from smc_agent.core.candle import Candle
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
    four_hours = aggregate(data.between(None, int(data.open_time[100])), "4h")
    assert len(four_hours) == 25 and not (four_hours.open_time % (4 * 3_600_000)).any()
    assert four_hours.high[0] == data.high[:4].max() and four_hours.close[0] == data.close[3]
    source = replay_source(four_hours, SMCConfig())
    candles = [
        Candle("binance", "BTC/USDT", "4h", int(t), 1.0, 1.0, 1.0, 1.0, 1.0) for t in four_hours.open_time
    ]
    source.update(candles[0])
    with pytest.raises(DataError, match="expected"):
        source.update(candles[2])
