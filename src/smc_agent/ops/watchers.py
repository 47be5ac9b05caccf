"""Automatic incident triggers that watch the control plane and ``/health`` from outside the engine.

- a latched emergency halt -> ``halt.latched`` (P0);
- the control store unreachable (trading halted, fail closed) -> ``control.unreachable`` (P0);
- an active venue failover -> ``venue.failover:<from>-><to>`` (P1);
- ``/health`` failing ``failures_to_open`` times in a row -> ``health.failing:<url>`` (P0).

Breakers and reconciliation live inside the engine and call the opener themselves. De-duplication is
the opener's (one open incident per cause key), so every tick may report what it sees.
"""

from __future__ import annotations

import httpx

from smc_agent.control.failover import FailoverManager
from smc_agent.control.trading import TradingControl
from smc_agent.ops.incidents.auto import IncidentOpener, OpenOutcome
from smc_agent.ops.incidents.priority import Priority


class ControlWatcher:
    def __init__(
        self,
        opener: IncidentOpener,
        *,
        trading: TradingControl,
        failover: FailoverManager,
        health_url: str | None = None,
        failures_to_open: int = 3,
        timeout_s: float = 2.0,
    ) -> None:
        self._opener = opener
        self._trading = trading
        self._failover = failover
        self._health_url = health_url
        self._threshold = failures_to_open
        self._failures = 0
        self._client = httpx.Client(timeout=timeout_s) if health_url else None

    def tick(self) -> list[OpenOutcome]:
        outcomes = [self._halt(), self._venue(), self._health()]
        return [o for o in outcomes if o is not None]

    def _halt(self) -> OpenOutcome | None:
        snap = self._trading.observe()
        if not snap.store_ok:
            return self._opener.open_or_attach(
                cause_key="control.unreachable",
                priority=Priority.P0,
                title=f"Control store {snap.store} unreachable: trading halted (fail closed)",
                impact="No new orders are placed until the control store answers",
                source="watcher",
                actions=[f"trading halted automatically: {snap.store_error}"],
            )
        if snap.latch is None:
            return None
        latch = snap.latch
        return self._opener.open_or_attach(
            cause_key="halt.latched",
            priority=Priority.P0,
            title="Trading halted: emergency halt latched",
            impact="No new orders are placed; working entry orders cancelled",
            source="watcher",
            actions=[f"halt latched by {latch.actor} ({latch.source}): {latch.reason}"],
        )

    def _venue(self) -> OpenOutcome | None:
        status = self._failover.status()
        if not status["failover_active"]:
            return None
        src, dst = status["from_venue"], status["active_venue"]
        stranded = len(status.get("stranded_positions") or [])
        return self._opener.open_or_attach(
            cause_key=f"venue.failover:{src}->{dst}",
            priority=Priority.P1,
            title=f"Venue failover {src} -> {dst}",
            impact=f"Market data and new orders on {dst}; {stranded} position(s) on {src} to reconcile",
            source="watcher",
            actions=[f"failover activated by {status.get('actor')}: {status.get('reason')}"],
        )

    def _health(self) -> OpenOutcome | None:
        if self._client is None or self._health_url is None:
            return None
        try:
            ok = self._client.get(self._health_url).is_success
            error = "" if ok else "HTTP error status"
        except httpx.HTTPError as exc:
            ok, error = False, exc.__class__.__name__
        self._failures = 0 if ok else self._failures + 1
        if self._failures < self._threshold:
            return None
        return self._opener.open_or_attach(
            cause_key=f"health.failing:{self._health_url}",
            priority=Priority.P0,
            title=f"/health failing ({self._failures} checks in a row)",
            impact="The API does not answer its liveness check",
            source="watcher",
            description=f"GET {self._health_url}: {error}",
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
