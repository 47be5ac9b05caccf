"""Health of each venue: ping (server time), latency, error rate, ban, data staleness.

:class:`HealthMonitor` probes every gateway on a fixed interval and keeps, per venue, a sliding window
of outcomes. ``snapshot()`` is what ``/v1/status`` shows. Staleness of market data is reported to it
by whoever consumes the data (:meth:`HealthMonitor.report_stale`), so a venue that answers pings but
serves frozen candles is unhealthy too.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from smc_agent.core.errors import SmcAgentError


class Pingable(Protocol):
    @property
    def venue(self) -> str: ...

    async def fetch_time(self) -> int: ...


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    interval_s: float = 1.0
    window: int = 10  # probes in the error-rate window
    max_error_rate: float = 0.5
    max_latency_ms: float = 2_000.0
    probe_timeout_s: float = 2.0


@dataclass(slots=True)
class VenueHealth:
    venue: str
    healthy: bool = True
    reason: str = ""
    latency_ms: float | None = None
    error_rate: float = 0.0
    stale: bool = False
    banned: bool = False
    last_ok_ms: int | None = None
    consecutive_failures: int = 0
    since: float = field(default_factory=time.monotonic)  # monotonic time of the last change of ``healthy``
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=10))

    def as_dict(self) -> dict[str, object]:
        return {
            "venue": self.venue,
            "healthy": self.healthy,
            "reason": self.reason,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "error_rate": round(self.error_rate, 3),
            "stale": self.stale,
            "banned": self.banned,
            "last_ok_ms": self.last_ok_ms,
            "consecutive_failures": self.consecutive_failures,
        }


class HealthMonitor:
    def __init__(
        self,
        gateways: Mapping[str, Pingable],
        *,
        policy: HealthPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateways = dict(gateways)
        self.policy = policy or HealthPolicy()
        self._monotonic = monotonic
        self.health = {
            v: VenueHealth(v, since=monotonic(), outcomes=deque(maxlen=self.policy.window))
            for v in self.gateways
        }

    def report_stale(self, venue: str, stale: bool) -> None:
        if venue in self.health:
            self.health[venue].stale = stale
            self._judge(self.health[venue])

    def healthy_for(self, venue: str) -> float:
        """Seconds the venue has been healthy (negative: seconds it has been unhealthy)."""
        h = self.health[venue]
        elapsed = self._monotonic() - h.since
        return elapsed if h.healthy else -elapsed

    async def probe(self, venue: str) -> VenueHealth:
        h = self.health[venue]
        gateway = self.gateways[venue]
        started = self._monotonic()
        try:
            await asyncio.wait_for(gateway.fetch_time(), timeout=self.policy.probe_timeout_s)
        except (SmcAgentError, TimeoutError) as exc:
            h.outcomes.append(False)
            h.consecutive_failures += 1
            h.banned = getattr(getattr(gateway, "throttle", None), "banned", False)
            h.reason = f"probe failed: {type(exc).__name__}: {str(exc)[:160]}"
        else:
            h.outcomes.append(True)
            h.consecutive_failures = 0
            h.banned = False
            h.latency_ms = (self._monotonic() - started) * 1000
            h.last_ok_ms = int(time.time() * 1000)
            h.reason = ""
        h.error_rate = h.outcomes.count(False) / len(h.outcomes)
        self._judge(h)
        return h

    def _judge(self, h: VenueHealth) -> None:
        problems = []
        if h.consecutive_failures:
            problems.append(h.reason or "last probe failed")
        if h.error_rate > self.policy.max_error_rate:
            problems.append(f"error rate {h.error_rate:.0%}")
        if h.latency_ms is not None and h.latency_ms > self.policy.max_latency_ms:
            problems.append(f"latency {h.latency_ms:.0f} ms")
        if h.stale:
            problems.append("market data stale")
        if h.banned:
            problems.append("banned by venue")
        healthy = not problems
        if healthy != h.healthy:
            h.healthy = healthy
            h.since = self._monotonic()
        h.reason = "; ".join(problems)

    async def probe_all(self) -> None:
        await asyncio.gather(*(self.probe(v) for v in self.gateways))

    async def run(self) -> None:
        while True:
            await self.probe_all()
            await asyncio.sleep(self.policy.interval_s)

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {v: h.as_dict() for v, h in self.health.items()}
