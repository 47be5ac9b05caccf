"""The strategies a bot row can name (``bots.strategy``), built from the bot's ``parameters``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from smc_agent.core.candle import Candle
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param
from smc_agent.strategy.sma_cross import SmaCross
from smc_agent.strategy.smc_structure import SmcStructure


class SmcFast(SmcStructure):
    """The SMC structure strategy with a 15-minute bias (the demo's 1m feed is replayed fast)."""

    name: ClassVar[str] = "smc_fast"
    timeframes = ("15m",)


class Drill(Strategy):
    """Game-day drill: NOT a trading strategy. Every ``every`` candles it sends one small market
    order, alternating buy and sell, so that a drill (venue failover, halt, restart) sees orders and
    trades within seconds; while its orders fill, the net position swings between 0 and ``qty``.
    For paper venues (exchange simulators) only.

    A bot row: ``strategy='drill'``, ``parameters={"qty": 0.001, "every": 1}``.
    """

    name: ClassVar[str] = "drill"

    qty = Param(float, 0.001, low=0.0, high=10_000, help="order quantity (base asset), more than 0")
    every = Param(int, 1, low=1, high=10_000, help="send one order every N candles")

    def check_params(self) -> None:
        if self.qty <= 0:  # a Param's range is closed: 0 passes low=0.0
            raise ValueError(f"qty ({self.qty}) must be more than 0")

    def on_start(self, **kwargs: object) -> None:
        self._seen = 0
        self._buy_next = True

    def on_candle(self, candle: Candle) -> None:
        if candle.timeframe != self.timeframe:
            return
        self._seen += 1
        if self._seen % self.every:
            return
        if self._buy_next:
            self.buy(qty=self.qty, tag="drill")
        else:
            self.sell(qty=self.qty, tag="drill")
        self._buy_next = not self._buy_next


STRATEGY_CLASSES: dict[str, type[Strategy]] = {
    "smc": SmcStructure,
    "smc_fast": SmcFast,
    "sma_cross": SmaCross,
    "drill": Drill,
}
"""The class each name builds: its declared parameters check a bot's parameters strictly."""

STRATEGIES: dict[str, Callable[[dict[str, Any]], Strategy]] = {
    "smc": lambda params: SmcStructure(**params),
    "smc_fast": lambda params: SmcFast(**{"htf": "15m", **params}),
    "sma_cross": lambda params: SmaCross(**params),
    "drill": lambda params: Drill(**params),
}
