"""Automatic incident triggers that watch the control plane and ``/health`` from outside the engine.

- a latched emergency halt -> ``halt.latched`` (P0);
- the control store unreachable (trading halted, fail closed) -> ``control.unreachable`` (P0);
- an active venue failover -> ``venue.failover:<from>-><to>`` (P1);
- ``/health`` failing ``failures_to_open`` times in a row -> ``health.failing:<url>`` (P0);
- a venue's ping URL failing ``failures_to_open`` times in a row -> ``venue.unreachable:<venue>`` (P1).

Breakers and reconciliation live inside the engine and call the opener themselves. De-duplication is
the opener's (one open incident per cause key), so every tick may report what it sees.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from smc_agent.control.failover import FailoverManager
from smc_agent.control.trading import TradingControl
from smc_agent.ops.incidents.auto import IncidentOpener, OpenOutcome
from smc_agent.ops.incidents.priority import Priority


def failover_key(src: str, dst: str) -> str:
    return f"venue.failover:{src}->{dst}"


def unreachable_key(venue: str) -> str:
    return f"venue.unreachable:{venue}"


class ControlWatcher:
    def __init__(
        self,
        opener: IncidentOpener,
        *,
        trading: TradingControl,
        failover: FailoverManager,
        health_url: str | None = None,
        venue_probes: Mapping[str, str] | None = None,
        failures_to_open: int = 3,
        timeout_s: float = 2.0,
    ) -> None:
        self._opener = opener
        self._trading = trading
        self._failover = failover
        self._health_url = health_url
        self._threshold = failures_to_open
        self._venue_probes = dict(venue_probes or {})
        self._failures: dict[str, int] = {}
        self._client = httpx.Client(timeout=timeout_s) if health_url or self._venue_probes else None

    def tick(self) -> list[OpenOutcome]:
        outcomes = [
            self._halt(),
            self._venue(),
            self._health(),
            *(self._venue_probe(v, url) for v, url in self._venue_probes.items()),
        ]
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
            cause_key=failover_key(src, dst),
            priority=Priority.P1,
            title=f"Venue failover {src} -> {dst}",
            impact=f"Market data and new orders on {dst}; {stranded} position(s) on {src} to reconcile",
            source="watcher",
            actions=[f"failover activated by {status.get('actor')}: {status.get('reason')}"],
            related=[unreachable_key(src)],  # one outage, one incident
        )

    def _failing(self, key: str, url: str) -> tuple[int, str]:
        """Probe ``url``; returns the consecutive failures of ``key`` and the last error."""
        assert self._client is not None
        try:
            response = self._client.get(url)
            error = "" if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = exc.__class__.__name__
        self._failures[key] = 0 if not error else self._failures.get(key, 0) + 1
        return self._failures[key], error

    def _health(self) -> OpenOutcome | None:
        if self._health_url is None:
            return None
        failures, error = self._failing("health", self._health_url)
        if failures < self._threshold:
            return None
        return self._opener.open_or_attach(
            cause_key=f"health.failing:{self._health_url}",
            priority=Priority.P0,
            title=f"/health failing ({failures} checks in a row)",
            impact="The API does not answer its liveness check",
            source="watcher",
            description=f"GET {self._health_url}: {error}",
        )

    def _venue_probe(self, venue: str, url: str) -> OpenOutcome | None:
        failures, error = self._failing(f"venue:{venue}", url)
        if failures < self._threshold:
            return None
        return self._opener.open_or_attach(
            cause_key=unreachable_key(venue),
            priority=Priority.P1,
            title=f"Exchange API failure: {venue} unreachable",
            impact=f"No market data or order entry on {venue}; fail over (runbook exchange-failover)",
            source="watcher",
            description=f"GET {url}: {error} ({failures} probes in a row)",
            related=self._failover_keys(venue),
        )

    def _failover_keys(self, venue: str) -> list[str]:
        """The failover incident's key when a failover away from ``venue`` is active."""
        try:
            status = self._failover.status()
        except Exception:  # the control store may be down: the halt check reports that
            return []
        if status["failover_active"] and status["from_venue"] == venue:
            return [failover_key(venue, status["active_venue"])]
        return []

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
