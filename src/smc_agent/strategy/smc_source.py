"""Where a strategy gets its SMC events: one source per timeframe, fed one closed candle at a time.

Live trading uses :class:`StreamSource` (the streaming ``SMCStream``). Backtests may install a
provider that replays the batch computation bar by bar (see ``smc_agent.backtest.smc_replay``); the
SMC module guarantees batch == stream bar for bar, and the replay refuses a candle it did not expect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from smc_agent.core.candle import Candle
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.events import SMCEvent
from smc_agent.smc.stream import SMCStream


class SMCSource(Protocol):
    def update(self, candle: Candle) -> list[SMCEvent]:
        """Events produced by this closed candle (causal: only bars up to this one)."""
        ...


SMCProvider = Callable[[str, SMCConfig], SMCSource]
"""(timeframe, config) -> a source for that timeframe of the strategy's instrument."""


class StreamSource:
    __slots__ = ("_update",)

    def __init__(self, config: SMCConfig) -> None:
        self._update = SMCStream(config).update

    def update(self, candle: Candle) -> list[SMCEvent]:
        return self._update(
            candle.open, candle.high, candle.low, candle.close, candle.volume, candle.open_time
        )


def stream_provider(timeframe: str, config: SMCConfig) -> SMCSource:
    return StreamSource(config)
