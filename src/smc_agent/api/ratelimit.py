"""Token-bucket rate limits per API key / user and per client IP.

Per key / user and per login address the buckets live in Redis when it is configured
(:class:`SharedRateLimiter`), so N API replicas enforce one limit together; without Redis, or while
Redis does not answer, each process limits on its own (:class:`RateLimiter`). The per-IP limit of every
request is always in-process (no network round trip on the anonymous hot path): behind N replicas it is
N times the setting.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from smc_agent.logs import get_logger

log = get_logger("smc_agent.api.ratelimit")


@dataclass(frozen=True, slots=True)
class Limit:
    """``per_minute`` requests on average, bursts up to ``burst``."""

    per_minute: int
    burst: int

    @property
    def rate_per_s(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_principal: Limit = Limit(per_minute=1200, burst=200)
    per_ip: Limit = Limit(per_minute=2400, burst=400)
    login_per_ip: Limit = Limit(per_minute=20, burst=10)


class Limiter(Protocol):
    def hit(self, key: str, cost: float = 1.0) -> int: ...


class RateLimiter:
    """``hit(key)`` returns 0 when allowed, else the seconds to wait (for ``Retry-After``)."""

    def __init__(self, limit: Limit, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self._limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, cost: float = 1.0) -> int:
        now = self._clock()
        rate, burst = self._limit.rate_per_s, float(self._limit.burst)
        with self._lock:
            tokens, last = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                allowed = True
            else:
                self._buckets[key] = (tokens, now)
                allowed = False
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        if allowed:
            return 0
        return max(1, math.ceil((cost - tokens) / rate)) if rate > 0 else 60


# GCRA (the token bucket written as one timestamp per key): the bucket's "theoretical arrival time" in
# ms of the Redis server's clock, so replicas with skewed clocks agree. Returns 0 (allowed) or the wait
# in ms. KEYS[1] bucket; ARGV: emission interval ms, burst, cost.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval * tonumber(ARGV[3])
local wait = new_tat - interval * tonumber(ARGV[2]) - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1)
return 0
"""


_REDIS_RETRY_S = 5.0


class SharedRateLimiter:
    """The same limit for every process sharing one Redis; falls back to ``local`` while Redis fails."""

    def __init__(
        self, limit: Limit, client: redis.Redis, *, name: str, local: RateLimiter | None = None
    ) -> None:
        self._limit = limit
        self._script = client.register_script(_GCRA)
        self._prefix = f"smc:ratelimit:{name}:"
        self._interval_ms = 60_000.0 / limit.per_minute if limit.per_minute > 0 else 3_600_000.0
        self._local = local or RateLimiter(limit)
        self._retry_redis_at = -math.inf

    def hit(self, key: str, cost: float = 1.0) -> int:
        now = time.monotonic()
        if now < self._retry_redis_at:  # Redis failed a moment ago: do not make every request wait on it
            return self._local.hit(key, cost)
        try:
            wait_ms = int(
                self._script(keys=[self._prefix + key], args=[self._interval_ms, self._limit.burst, cost])
            )
        except redis.RedisError as exc:
            self._retry_redis_at = time.monotonic() + _REDIS_RETRY_S
            log.warning("shared rate limit unavailable; limiting in this process", error=str(exc))
            return self._local.hit(key, cost)
        return 0 if wait_ms <= 0 else max(1, math.ceil(wait_ms / 1000))
