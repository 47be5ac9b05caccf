"""Token-bucket rate limits per API key / user and per client IP (in this process).

Each API replica limits on its own; behind N replicas the effective limit is N times the setting.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


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
