"""An example of your own strategy: a 1h range breakout, traded on the base timeframe, filtered by the
1h market structure from the causal SMC engine.

    smc-agent backtest --data ../shared/data/ohlcv/binance_2024/binance_spot_BTCUSDT_15m.csv \
        --strategy docs/examples/breakout.py:Breakout --param lookback=24
"""

from __future__ import annotations

from collections import deque
from typing import Any

from smc_agent.smc.config import SMCConfig
from smc_agent.smc.events import StructureBroken
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param


class Breakout(Strategy):
    name = "breakout"
    timeframes = ("1h",)  # 1h candles are built from the base feed and passed to on_candle as well

    lookback = Param(int, 24, low=2, high=500, help="1h candles in the range")
    target = Param(float, 2.0, low=0.5, high=10.0, help="take profit as a multiple of the risk")
    follow_structure = Param(bool, True, help="long only after a bullish 1h BOS/CHoCH")

    def check_params(self) -> None:  # rules between parameters, checked before any candle is read
        if self.follow_structure and self.lookback < 5:
            raise ValueError("lookback must be at least 5 when following the structure")

    def on_start(self, **kwargs: Any) -> None:
        self.highs: deque[float] = deque(maxlen=self.lookback)
        self.lows: deque[float] = deque(maxlen=self.lookback)
        self.structure = self.smc("1h", SMCConfig(swing_length=3), kinds={StructureBroken})
        self.bias = 0

    def on_candle(self, candle: Any) -> None:
        if candle.timeframe == "1h":
            for event in self.structure.update(candle):  # causal: only what this candle confirmed
                self.bias = event.direction
            self.highs.append(candle.high)
            self.lows.append(candle.low)
            return
        if len(self.highs) < self.lookback or not self.flat:
            return
        top, bottom = max(self.highs), min(self.lows)
        bias_ok = self.bias > 0 or not self.follow_structure
        if candle.close > top and bias_ok:
            risk = candle.close - bottom
            take_profit = candle.close + self.target * risk
            self.buy(stop_loss=bottom, take_profit=take_profit, tag="breakout")
            # drawn on the report's chart: the range as a box, with the stop and the target
            self.annotate("range", top=top, bottom=bottom, direction=1, stop=bottom, target=take_profit)

    def on_order_filled(self, event: Any, **kwargs: Any) -> None:
        pass  # e.g. record fills; every hook is guarded: an exception halts this bot, not the engine
