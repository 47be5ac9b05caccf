"""Message streams between the services: Redis Streams across processes, an in-process twin for
``smc-agent run``/``demo``.

Semantics (the same for both): a stream is an append-only log; each service reads it through a
*consumer group* so every entry is handled by one consumer of the group; an entry stays *pending*
until the consumer acknowledges it after handling it. A consumer that restarts under the same name
first re-reads its own pending entries (those it was handling when it died), and entries pending on
another consumer for longer than ``claim_idle_ms`` are claimed (``XAUTOCLAIM``), so a crash never
loses a message; handlers must therefore be idempotent (the execution engine is, by client order id).

A *tail* (:meth:`RedisStreamBus.tail`) is the other way to read: from the stream's end on, without a
group (plain ``XREAD``). Every tail sees every entry and leaves nothing on the server (no group, no
pending entries), so any number of observers (each websocket-service replica) can follow a stream,
and one that is slow or dead holds nothing back: the stream is trimmed as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

Entry = tuple[str, dict[str, str]]

ORDERS_STREAM = "smc:stream:orders"  # trading engine -> execution engine: SubmitOrder / CancelOrder
EVENTS_STREAM = "smc:stream:events"  # execution engine -> trading engine: order events
CANDLES_STREAM = "smc:stream:candles"  # data pipeline -> trading engine: closed candles


class StreamConsumer(Protocol):
    async def read(self, *, count: int = 50, block_ms: int = 200) -> list[Entry]: ...

    async def ack(self, entry_id: str) -> None: ...


class StreamTail(Protocol):
    async def read(self, *, count: int = 100, block_ms: int = 1000) -> list[Entry]: ...


class TailSource(Protocol):
    def tail(self, stream: str) -> StreamTail: ...


class StreamBus(Protocol):
    async def publish(self, stream: str, fields: Mapping[str, str]) -> str: ...

    def consumer(
        self, stream: str, *, group: str, name: str, claim_idle_ms: int = 10_000
    ) -> StreamConsumer: ...

    async def close(self) -> None: ...


# ===================================================================== Redis
class RedisStreamBus:
    def __init__(self, url: str, *, maxlen: int = 100_000) -> None:
        self.url = url
        self.maxlen = maxlen
        pool = aioredis.BlockingConnectionPool.from_url(  # waits for a free connection, never fails
            url,
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=2,
            max_connections=64,
            timeout=10,
        )
        self.client: aioredis.Redis = aioredis.Redis(connection_pool=pool)

    async def publish(self, stream: str, fields: Mapping[str, str]) -> str:
        payload: dict[Any, Any] = dict(fields)  # redis-py's key type is a union: str keys are fine
        entry_id = await self.client.xadd(stream, payload, maxlen=self.maxlen, approximate=True)
        return str(entry_id)

    def consumer(self, stream: str, *, group: str, name: str, claim_idle_ms: int = 10_000) -> RedisConsumer:
        return RedisConsumer(self.client, stream, group=group, name=name, claim_idle_ms=claim_idle_ms)

    def tail(self, stream: str) -> RedisTail:
        return RedisTail(self.client, stream)

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()


class RedisConsumer:
    def __init__(
        self, client: aioredis.Redis, stream: str, *, group: str, name: str, claim_idle_ms: int
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.name = name
        self.claim_idle_ms = claim_idle_ms
        self._ready = False
        self._own_pending_done = False
        self._last_claim = 0.0

    async def _ensure_group(self) -> None:
        if self._ready:
            return
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    async def read(self, *, count: int = 50, block_ms: int = 200) -> list[Entry]:
        try:
            return await self._read(count, block_ms)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis restarted without its data: the group is made again
                self._ready = False
            raise

    async def _read(self, count: int, block_ms: int) -> list[Entry]:
        await self._ensure_group()
        if not self._own_pending_done:  # what this consumer was handling when it last died
            rows = await self.client.xreadgroup(self.group, self.name, {self.stream: "0"}, count=count)
            entries = _entries(rows)
            if entries:
                return entries
            self._own_pending_done = True
        now = time.monotonic()
        if now - self._last_claim > self.claim_idle_ms / 2000:
            self._last_claim = now
            result = await self.client.xautoclaim(
                self.stream,
                self.group,
                self.name,
                min_idle_time=self.claim_idle_ms,
                start_id="0-0",
                count=count,
            )
            claimed = [(str(i), dict(f)) for i, f in result[1] if f is not None]
            if claimed:
                return claimed
        rows = await self.client.xreadgroup(
            self.group, self.name, {self.stream: ">"}, count=count, block=block_ms
        )
        return _entries(rows)

    async def ack(self, entry_id: str) -> None:
        await self.client.xack(self.stream, self.group, entry_id)


class RedisTail:
    """``XREAD`` from the entry that was newest at the first read on (entries added meanwhile between
    two reads are not skipped, as reading from ``$`` each time would)."""

    def __init__(self, client: aioredis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream
        self.last: str | None = None

    async def read(self, *, count: int = 100, block_ms: int = 1000) -> list[Entry]:
        if self.last is None:
            newest = await self.client.xrevrange(self.stream, count=1)
            self.last = str(newest[0][0]) if newest else "0-0"
        rows: Any = await self.client.xread({self.stream: self.last}, count=count, block=block_ms)
        for _stream, items in rows or []:
            if items:
                self.last = str(items[-1][0])
        return _entries(rows)


def _entries(rows: object) -> list[Entry]:
    out: list[Entry] = []
    for _stream, items in rows or []:  # type: ignore[attr-defined]
        for entry_id, fields in items:
            if fields:
                out.append((str(entry_id), dict(fields)))
    return out


# ===================================================================== in-process
@dataclass
class _Group:
    next_index: int = 0
    pending: dict[str, tuple[str, float]] = field(default_factory=dict)  # id -> (consumer, since)


class MemoryStreamBus:
    """The same semantics inside one process (``smc-agent run``/``demo``)."""

    def __init__(self) -> None:
        self.streams: dict[str, list[Entry]] = {}
        self.groups: dict[tuple[str, str], _Group] = {}
        self._seq = 0
        self._wake = asyncio.Event()

    async def publish(self, stream: str, fields: Mapping[str, str]) -> str:
        self._seq += 1
        entry_id = f"{int(time.time() * 1000)}-{self._seq}"
        self.streams.setdefault(stream, []).append((entry_id, dict(fields)))
        self._wake.set()
        return entry_id

    def consumer(self, stream: str, *, group: str, name: str, claim_idle_ms: int = 10_000) -> MemoryConsumer:
        grp = self.groups.setdefault((stream, group), _Group())
        return MemoryConsumer(self, stream, grp, name)

    def tail(self, stream: str) -> MemoryTail:
        return MemoryTail(self, stream)

    async def close(self) -> None:
        return None


class MemoryConsumer:
    def __init__(self, bus: MemoryStreamBus, stream: str, group: _Group, name: str) -> None:
        self.bus = bus
        self.stream = stream
        self.group = group
        self.name = name

    async def read(self, *, count: int = 50, block_ms: int = 200) -> list[Entry]:
        deadline = time.monotonic() + block_ms / 1000
        while True:
            log = self.bus.streams.get(self.stream, [])
            batch = log[self.group.next_index : self.group.next_index + count]
            if batch:
                self.group.next_index += len(batch)
                for entry_id, _ in batch:
                    self.group.pending[entry_id] = (self.name, time.monotonic())
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self.bus._wake.clear()
            try:
                await asyncio.wait_for(self.bus._wake.wait(), remaining)
            except TimeoutError:
                return []

    async def ack(self, entry_id: str) -> None:
        self.group.pending.pop(entry_id, None)


class MemoryTail:
    """Every entry published after it was made, in order (no group: nothing is pending)."""

    def __init__(self, bus: MemoryStreamBus, stream: str) -> None:
        self.bus = bus
        self.stream = stream
        self.index = len(bus.streams.get(stream, []))

    async def read(self, *, count: int = 100, block_ms: int = 1000) -> list[Entry]:
        deadline = time.monotonic() + block_ms / 1000
        while True:
            batch = self.bus.streams.get(self.stream, [])[self.index : self.index + count]
            if batch:
                self.index += len(batch)
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self.bus._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.bus._wake.wait(), remaining)
