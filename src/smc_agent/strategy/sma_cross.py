"""SMA cross: the reference strategy for peer comparisons (backtesting.py's classic example).

Long when the fast SMA of closes crosses above the slow one, short when it crosses below; each
cross first closes the open position, then opens the new one with a market order (filled at the
next bar's open by the simulated venue).
"""

from __future__ import annotations

from typing import ClassVar

from smc_agent.core.candle import Candle
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.indicators import SMA
from smc_agent.strategy.params import Param


class SmaCross(Strategy):
    name: ClassVar[str] = "sma_cross"

    fast = Param(int, 10, low=1, high=1000, help="fast SMA length (bars)")
    slow = Param(int, 20, low=2, high=5000, help="slow SMA length (bars)")
    qty = Param(float, 0.0, low=0.0, high=10_000, help="fixed order quantity; 0 = engine sizing")
    allow_short = Param(bool, True, help="go short on a downward cross")

    def check_params(self) -> None:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")

    def on_start(self, **kwargs: object) -> None:
        self._fast = SMA(self.fast)
        self._slow = SMA(self.slow)
        self._prev_fast = float("nan")
        self._prev_slow = float("nan")

    def on_candle(self, candle: Candle) -> None:
        f = self._fast.update(candle.close)
        s = self._slow.update(candle.close)
        pf, ps = self._prev_fast, self._prev_slow
        self._prev_fast, self._prev_slow = f, s
        if pf < ps and f > s:
            pos = self.position_size
            if pos < 0:
                self.close(tag="cross_up")
            if pos <= 0:
                self.buy(qty=self.qty or None, tag="cross_up")
        elif ps < pf and s > f:
            pos = self.position_size
            if pos > 0:
                self.close(tag="cross_down")
            if self.allow_short and pos >= 0:
                self.sell(qty=self.qty or None, tag="cross_down")
