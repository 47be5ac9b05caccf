"""Loading shared candles for backtest tests (skips cleanly without the shared data)."""

from __future__ import annotations

import pandas as pd

from smc_agent.backtest.data import CandleData
from tests._shared import shared_file


def load_candles(
    bundle: str, filename: str, *, symbol: str, timeframe: str, venue: str = "binance"
) -> CandleData:
    frame = pd.read_csv(shared_file("ohlcv", bundle, filename))
    return CandleData.from_frame(frame, venue=venue, symbol=symbol, timeframe=timeframe)
