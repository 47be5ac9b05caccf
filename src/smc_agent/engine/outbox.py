"""An :class:`ExecutionClient` for live runtimes: commands go to an outbox the runtime ships (to the
execution service's order stream, or straight to an async ``VenuePort``); venue events come back
through :meth:`OutboxClient.deliver`. The engine and its trade loop are unchanged: only this client,
the clock and the candle source differ from a backtest.

::

    client = OutboxClient()
    engine = TradingEngine(clock=LiveClock(), client=client, ...)
    async for candle in feed:
        engine.on_candle(candle)
        for command in client.drain():
            await orders_stream.publish(command)          # or: await venue.submit_order(command)
    # elsewhere, for each event read back from the venue / execution service:
    client.deliver(event)
"""

from __future__ import annotations

from collections import deque

from smc_agent.core.candle import Candle
from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.events import Event
from smc_agent.core.ports import EventHandler

Command = SubmitOrder | CancelOrder


def _unconnected(event: Event) -> None:
    raise RuntimeError(f"OutboxClient got {type(event).__name__} before an engine connected")


class OutboxClient:
    def __init__(self) -> None:
        self._outbox: deque[Command] = deque()
        self._sink: EventHandler = _unconnected

    def connect(self, sink: EventHandler) -> None:
        self._sink = sink

    def on_candle(self, candle: Candle) -> None:
        """Real venues match orders themselves."""

    def submit(self, command: SubmitOrder) -> None:
        self._outbox.append(command)

    def cancel(self, command: CancelOrder) -> None:
        self._outbox.append(command)

    def drain(self) -> list[Command]:
        """Commands to send, oldest first (each exactly once)."""
        out = list(self._outbox)
        self._outbox.clear()
        return out

    def deliver(self, event: Event) -> None:
        """Feed a venue / execution-service event (accepted, filled, canceled, ...) into the engine."""
        self._sink(event)
