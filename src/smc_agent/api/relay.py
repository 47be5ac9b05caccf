"""What the services say on their streams, to the ``/ws`` clients of this process: order events,
fills and positions (each to its owner only, see :mod:`smc_agent.api.order_feed`) and closed candles
(market data: every authenticated client).

Each process serving ``/ws`` follows the events and candles streams itself with a *tail* (plain
``XREAD`` from the end; the in-process twin in ``smc-agent run``/``demo``) and hands the messages to
its own hub, not to the pub/sub channel. Why a tail and not a consumer group: a group shares its
entries out among its readers, so websocket-service replicas in one group would each get a part;
a group per replica would leave groups and pending entries behind every replica that goes away, and
a new one would start with the whole backlog. A tail costs the server nothing, and a relay that is
slow or dead never holds back the execution or trading engine: they only append (trimmed streams),
and the hub only enqueues (a slow client is dropped). After a restart the relay starts at the end:
the dashboard reloads the tables through the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from smc_agent.api.bus import Subscriber, encode
from smc_agent.api.order_feed import OrderFeed
from smc_agent.live.codec import decode_candle, is_history
from smc_agent.live.streams import CANDLES_STREAM, EVENTS_STREAM, Entry, TailSource
from smc_agent.logs import get_logger

log = get_logger("smc_agent.api.relay")


class StreamRelay:
    def __init__(
        self,
        streams: TailSource,
        sink: Subscriber,
        session_factory: sessionmaker[Session],
        *,
        retry_s: float = 1.0,
        block_ms: int = 1000,
    ) -> None:
        self._streams = streams
        self._sink = sink
        self._feed = OrderFeed(session_factory)
        self._retry_s = retry_s
        self._block_ms = block_ms
        self._tasks: list[asyncio.Task[None]] = []
        self.relayed = 0

    def start(self) -> None:
        """Follow both streams from their end (entries appended before this call are not sent)."""
        self._tasks = [
            asyncio.create_task(self._follow(EVENTS_STREAM, self._events), name="ws-relay-events"),
            asyncio.create_task(self._follow(CANDLES_STREAM, self._candles), name="ws-relay-candles"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _follow(self, stream: str, handle: Callable[[list[Entry]], Awaitable[None]]) -> None:
        tail = self._streams.tail(stream)  # made here, on the loop: its end is now
        failing = False
        while True:
            try:
                entries = await tail.read(count=200, block_ms=self._block_ms)
                if entries:
                    await handle(entries)
                if failing:
                    log.info("live events flow to /ws again", stream=stream)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the database restarting: said once, retried
                if not failing:
                    log.warning(
                        "cannot relay a stream to /ws; retrying",
                        stream=stream,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                failing = True
                await asyncio.sleep(self._retry_s)

    async def _events(self, entries: list[Entry]) -> None:
        for channel, user_id, data in await asyncio.to_thread(self._feed.messages, entries):
            self._send(channel, data, user_id)

    async def _candles(self, entries: list[Entry]) -> None:
        for _entry_id, fields in entries:
            if is_history(fields):  # a back-fill: older than what a live chart shows
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError):
                c = decode_candle(fields)
                self._send(
                    "candles",
                    {
                        "exchange": c.venue,
                        "symbol": c.symbol,
                        "timeframe": c.timeframe,
                        "time": c.open_time // 1000,  # as /v1/candles: seconds
                        "open": c.open,
                        "high": c.high,
                        "low": c.low,
                        "close": c.close,
                        "volume": c.volume,
                    },
                    None,
                )

    def _send(self, channel: str, data: Any, user_id: str | None) -> None:
        self._sink(channel, user_id, encode(channel, data, user_id=user_id))
        self.relayed += 1
