"""The engine's synchronous view of a venue.

Simulated and paper venues implement it directly (they match orders in :meth:`on_candle`); the live
runtime wraps an async ``VenuePort`` in an adapter that implements it and feeds venue reports back
through the sink as events.
"""

from __future__ import annotations

from typing import Protocol

from smc_agent.core.candle import Candle
from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.ports import EventHandler


class ExecutionClient(Protocol):
    def connect(self, sink: EventHandler) -> None:
        """Register where order events (accepted, filled, canceled, ...) are delivered."""
        ...

    def on_candle(self, candle: Candle) -> None:
        """A candle closed: simulated venues match working orders against it; real venues ignore it."""
        ...

    def submit(self, command: SubmitOrder) -> None: ...

    def cancel(self, command: CancelOrder) -> None: ...
