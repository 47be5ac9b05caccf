"""The control store on Redis database 0, where the playbook's ``r.set('emergency_halt', 'true')`` lands."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from smc_agent.core.control import ControlStoreUnavailable

T = TypeVar("T")


class RedisKeyValueStore:
    """Short timeouts on purpose: a control store that does not answer quickly means 'halted'."""

    name = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.5) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
            health_check_interval=0,
        )
        self.url = url

    @property
    def client(self) -> redis.Redis:
        return self._client

    def _call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except redis.RedisError as exc:
            raise ControlStoreUnavailable(f"redis unreachable: {exc.__class__.__name__}: {exc}") from exc

    def get(self, key: str) -> str | None:
        value = self._call(self._client.get, key)
        return None if value is None else str(value)

    def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        self._call(self._client.set, key, value, px=px)

    def add(self, key: str, value: str) -> bool:
        return bool(self._call(self._client.set, key, value, nx=True))

    def delete(self, key: str) -> bool:
        return bool(self._call(self._client.delete, key))

    def ttl(self, key: str) -> float | None:
        pttl = int(self._call(self._client.pttl, key))
        return None if pttl < 0 else pttl / 1000.0

    def ping(self) -> float:
        start = time.perf_counter()
        self._call(self._client.ping)
        return time.perf_counter() - start

    def close(self) -> None:
        self._client.close()
