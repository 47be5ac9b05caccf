"""Automatic market-data failover between a primary and a backup venue.

The failover *state* lives in the control store (``smc_agent.control.failover.FailoverManager``,
written by the control layer); this module only decides, and reaches the state through the small
:class:`FailoverStatePort` so ``venues`` does not import ``control``. The playbook's manual
``FailoverManager().activate_failover('binance', 'bybit')`` writes the same state, so manual and
automatic failover cannot disagree.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from smc_agent.logs import get_logger
from smc_agent.venues.health import HealthMonitor

log = get_logger("smc_agent.venues.failover")


@runtime_checkable
class FailoverStatePort(Protocol):
    def active_venue(self) -> str: ...

    def activate_failover(self, from_venue: str, to_venue: str, *, reason: str) -> object: ...

    def deactivate_failover(self, *, reason: str) -> object: ...


class InMemoryFailoverState:
    """``FailoverStatePort`` for one process (tests, benchmarks); records every change."""

    def __init__(self, primary: str) -> None:
        self.primary = primary
        self._active = primary
        self.events: list[tuple[str, str, str, str]] = []  # (action, from, to, reason)

    def active_venue(self) -> str:
        return self._active

    def activate_failover(self, from_venue: str, to_venue: str, *, reason: str) -> object:
        self.events.append(("activate", from_venue, to_venue, reason))
        self._active = to_venue
        return None

    def deactivate_failover(self, *, reason: str) -> object:
        self.events.append(("deactivate", self._active, self.primary, reason))
        self._active = self.primary
        return None


@dataclass(frozen=True, slots=True)
class FailoverPolicy:
    primary: str = "binance"
    backup: str = "bybit"
    unhealthy_for_s: float = 3.0  # primary unhealthy this long -> fail over (if the backup is healthy)
    recovered_for_s: float = 60.0  # primary healthy again this long -> fail back
    interval_s: float = 0.5


class FailoverController:
    def __init__(self, monitor: HealthMonitor, state: FailoverStatePort, policy: FailoverPolicy) -> None:
        if policy.primary == policy.backup:
            raise ValueError("failover needs two different venues")
        for venue in (policy.primary, policy.backup):
            if venue not in monitor.health:
                raise ValueError(f"the health monitor does not watch {venue!r}")
        self.monitor = monitor
        self.state = state
        self.policy = policy
        self.automatic = False  # fail back only from a failover this controller started, never an operator's

    def evaluate(self) -> str | None:
        """Decide once; returns ``"activate"``/``"deactivate"`` when the state was changed."""
        p = self.policy
        active = self.state.active_venue()
        primary_for = self.monitor.healthy_for(p.primary)
        backup_healthy = self.monitor.health[p.backup].healthy
        if active == p.primary and primary_for <= -p.unhealthy_for_s and backup_healthy:
            reason = (
                f"automatic failover: {p.primary} unhealthy for {-primary_for:.1f}s "
                f"({self.monitor.health[p.primary].reason})"
            )
            log.warning(f"failover {p.primary} -> {p.backup}", reason=reason)
            self.state.activate_failover(p.primary, p.backup, reason=reason)
            self.automatic = True
            return "activate"
        if active == p.backup and self.automatic and primary_for >= p.recovered_for_s:
            reason = f"automatic failback: {p.primary} healthy for {primary_for:.1f}s"
            log.warning(f"failover back {p.backup} -> {p.primary}", reason=reason)
            self.state.deactivate_failover(reason=reason)
            self.automatic = False
            return "deactivate"
        return None

    async def run(self) -> None:
        while True:
            self.evaluate()
            await asyncio.sleep(self.policy.interval_s)
