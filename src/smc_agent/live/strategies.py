"""The strategies a bot row can name (``bots.strategy``), built from the bot's ``parameters``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from smc_agent.strategy.base import Strategy
from smc_agent.strategy.sma_cross import SmaCross
from smc_agent.strategy.smc_structure import SmcStructure


class SmcFast(SmcStructure):
    """The SMC structure strategy with a 15-minute bias (the demo's 1m feed is replayed fast)."""

    name: ClassVar[str] = "smc_fast"
    timeframes: ClassVar[tuple[str, ...]] = ("15m",)


STRATEGIES: dict[str, Callable[[dict[str, Any]], Strategy]] = {
    "smc": lambda params: SmcStructure(**params),
    "smc_fast": lambda params: SmcFast(**{"htf": "15m", **params}),
    "sma_cross": lambda params: SmaCross(**params),
}
