"""Where a strategy gets its SMC events: one source per timeframe, fed one closed candle at a time.

Live trading uses :class:`StreamSource` (the streaming ``SMCStream``). Backtests may install a
provider that replays the batch computation bar by bar (see ``smc_agent.backtest.smc_replay``); the
SMC module guarantees batch == stream bar for bar, and the replay refuses a candle it did not expect.

A strategy that reads only some event types may ask for just those (``kinds``): a source then returns
the events of those types, in the order the full set has them; the replay does not build the others.

Both sources also serve a bar's events as kernel records (``rows``: one list of floats per event, the
columns ``smc.kernel.layout.EV_*``, ``EV_KIND`` holding the ``K_*`` code), the same events in the same
order as ``update``, without building an object per event. A provider's source need not have ``rows``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from smc_agent.core.candle import Candle
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.events import (
    FVGFormed,
    FVGMerged,
    FVGMitigated,
    LiquidityFormed,
    LiquiditySwept,
    OrderBlockFormed,
    OrderBlockInvalidated,
    OrderBlockMitigated,
    PeriodLevelBroken,
    SMCEvent,
    StructureBroken,
    SwingConfirmed,
)
from smc_agent.smc.kernel.layout import (
    EV_KIND,
    K_BOS,
    K_CHOCH,
    K_FVG_MERGED,
    K_FVG_MITIGATED,
    K_FVG_NEW,
    K_LIQ_NEW,
    K_LIQ_SWEPT,
    K_OB_INVALIDATED,
    K_OB_MITIGATED,
    K_OB_NEW,
    K_PERIOD_BROKEN,
    K_SWING,
)
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


# event type -> the kernel event kinds decoded into it (what a ``kinds`` request keeps)
KERNEL_KINDS: dict[type[SMCEvent], tuple[int, ...]] = {
    SwingConfirmed: (K_SWING,),
    StructureBroken: (K_BOS, K_CHOCH),
    OrderBlockFormed: (K_OB_NEW,),
    OrderBlockMitigated: (K_OB_MITIGATED,),
    OrderBlockInvalidated: (K_OB_INVALIDATED,),
    FVGFormed: (K_FVG_NEW,),
    FVGMitigated: (K_FVG_MITIGATED,),
    FVGMerged: (K_FVG_MERGED,),
    LiquidityFormed: (K_LIQ_NEW,),
    LiquiditySwept: (K_LIQ_SWEPT,),
    PeriodLevelBroken: (K_PERIOD_BROKEN,),
}

# event type -> the SMC concept whose computation emits it (what a source computes for a ``kinds``
# request; the kernel closes the set over the concepts' dependencies)
CONCEPT_OF: dict[type[SMCEvent], str] = {
    SwingConfirmed: "swings",
    StructureBroken: "structure",
    OrderBlockFormed: "order_blocks",
    OrderBlockMitigated: "order_blocks",
    OrderBlockInvalidated: "order_blocks",
    FVGFormed: "fvg",
    FVGMitigated: "fvg",
    FVGMerged: "fvg",
    LiquidityFormed: "liquidity",
    LiquiditySwept: "liquidity",
    PeriodLevelBroken: "periods",
}


def concepts_for(kinds: EventKinds | None) -> frozenset[str]:
    """The SMC concepts whose events a source for ``kinds`` serves (every event-emitting one for None)."""
    return frozenset(CONCEPT_OF[kind] for kind in (KERNEL_KINDS if kinds is None else kinds))


EventRow = list[float]
"""One SMC event as its kernel record (columns ``smc.kernel.layout.EV_*``)."""


class StreamSource:
    __slots__ = ("_codes", "_kinds", "_rows", "_update")

    def __init__(self, config: SMCConfig, kinds: EventKinds | None = None) -> None:
        stream = SMCStream(config, concepts=concepts_for(kinds))  # only what emits the asked types
        self._update = stream.update
        self._rows = stream.update_rows
        self._kinds = kinds
        self._codes = None if kinds is None else frozenset(c for k in kinds for c in KERNEL_KINDS[k])

    def update(self, candle: Candle) -> list[SMCEvent]:
        events = self._update(
            candle.open, candle.high, candle.low, candle.close, candle.volume, candle.open_time
        )
        kinds = self._kinds
        if kinds is None or not events:
            return events
        return [e for e in events if type(e) in kinds]

    def rows(self, candle: Candle) -> list[EventRow]:
        """The events of this candle as kernel records (what ``update`` returns, not decoded)."""
        rows = self._rows(candle.open, candle.high, candle.low, candle.close, candle.volume, candle.open_time)
        codes = self._codes
        if codes is None or not rows:
            return rows
        return [r for r in rows if r[EV_KIND] in codes]  # a float code equals its int


def stream_provider(timeframe: str, config: SMCConfig, kinds: EventKinds | None = None) -> SMCSource:
    return StreamSource(config, kinds)
