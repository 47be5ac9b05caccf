"""Where a strategy gets its SMC events: one source per timeframe, fed one closed candle at a time.

Live trading uses :class:`StreamSource` (the streaming ``SMCStream``). Backtests may install a
provider that replays the batch computation bar by bar (see ``smc_agent.backtest.smc_replay``); the
SMC module guarantees batch == stream bar for bar, and the replay refuses a candle it did not expect.

A strategy that reads only some event types may ask for just those (``kinds``): a source then returns
the events of those types, in the order the full set has them; the replay does not build the others.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from smc_agent.core.candle import Candle
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.events import SMCEvent
from smc_agent.smc.stream import SMCStream


class SMCSource(Protocol):
    def update(self, candle: Candle) -> list[SMCEvent]:
        """Events produced by this closed candle (causal: only bars up to this one)."""
        ...


EventKinds = frozenset[type[SMCEvent]]
SMCProvider = Callable[[str, SMCConfig, "EventKinds | None"], SMCSource]
"""(timeframe, config, kinds) -> a source for that timeframe of the strategy's instrument, delivering
the events whose type is in ``kinds`` (``None``: every event)."""


def event_kinds(kinds: Collection[type[SMCEvent]] | None) -> EventKinds | None:
    return None if kinds is None else frozenset(kinds)


class StreamSource:
    __slots__ = ("_kinds", "_update")

    def __init__(self, config: SMCConfig, kinds: EventKinds | None = None) -> None:
        self._update = SMCStream(config).update
        self._kinds = kinds

    def update(self, candle: Candle) -> list[SMCEvent]:
        events = self._update(
            candle.open, candle.high, candle.low, candle.close, candle.volume, candle.open_time
        )
        kinds = self._kinds
        if kinds is None or not events:
            return events
        return [e for e in events if type(e) in kinds]


def stream_provider(timeframe: str, config: SMCConfig, kinds: EventKinds | None = None) -> SMCSource:
    return StreamSource(config, kinds)
