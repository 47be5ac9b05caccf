"""The event stream behind ``/ws``: a tiny JSON publish/subscribe port with two adapters.

- :class:`LocalBus`: in-process fan-out (embedded default, ``smc-agent run``/``demo``).
- :class:`RedisBus`: Redis pub/sub on channel ``smc:events`` (when ``SMC_REDIS_URL`` is set), so a
  separate websocket-service process receives what the trading engine publishes.

A message is serialised once at publish; subscribers get ``(channel, user_id, text)``.
The engines' order events, fills, positions and candles reach ``/ws`` through
:mod:`smc_agent.api.relay` (it follows their streams in each process serving ``/ws``), not through
this bus's publish.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis

from smc_agent.logs import get_logger

log = get_logger("smc_agent.api.bus")

CHANNELS = ("candles", "smc", "signals", "orders", "trades", "positions", "trading_state", "venue")
REDIS_CHANNEL = "smc:events"
Subscriber = Callable[[str, str | None, str], None]


def encode(channel: str, data: Any, *, user_id: str | None = None) -> str:
    return json.dumps(
        {"channel": channel, "user_id": user_id, "ts": time.time() * 1000, "data": data},
        default=_default,
        separators=(",", ":"),
    )


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class JsonBus(Protocol):
    def publish(self, channel: str, data: Any, *, user_id: str | None = None) -> None: ...

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalBus:
    """Synchronous fan-out in the publisher's thread; subscribers must not block (the hub only enqueues)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def publish(self, channel: str, data: Any, *, user_id: str | None = None) -> None:
        self.deliver(channel, user_id, encode(channel, data, user_id=user_id))

    def deliver(self, channel: str, user_id: str | None, text: str) -> None:
        for subscriber in tuple(self._subscribers):
            subscriber(channel, user_id, text)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisBus(LocalBus):
    """Publish to Redis; a listener task delivers what any process published to local subscribers."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._sync: redis.Redis | None = None
        self._task: asyncio.Task[None] | None = None

    def publish(self, channel: str, data: Any, *, user_id: str | None = None) -> None:
        if self._sync is None:
            self._sync = redis.Redis.from_url(self._url, socket_timeout=2)
        self._sync.publish(REDIS_CHANNEL, encode(channel, data, user_id=user_id))

    async def start(self) -> None:
        """Subscribe; a Redis that does not answer in 5 s is said and retried in the background (the
        gateway died of a bare TimeoutError, and /v1/status could not report the outage)."""
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(ready), name="redis-bus")
        try:
            await asyncio.wait_for(asyncio.shield(ready.wait()), timeout=5)
        except TimeoutError:
            log.error(
                "ALERT the event bus's Redis does not answer: no live events until it does (retrying)",
                redis=f"{urlsplit(self._url).hostname}:{urlsplit(self._url).port or 6379}",
            )

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            client = aioredis.Redis.from_url(self._url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(REDIS_CHANNEL)
                    ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        text = message["data"].decode()
                        head = json.loads(text)
                        self.deliver(str(head["channel"]), head.get("user_id"), text)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis bus listener lost its connection; retrying", error=str(exc))
                await asyncio.sleep(1)
            finally:
                await client.aclose()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._sync is not None:
            self._sync.close()
