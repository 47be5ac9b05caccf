"""Automatic opening with de-duplication: the ONE entry point for breakers, halts, reconciliation,
failover and health checks.

``IncidentOpener.open_or_attach(cause_key=..., priority=..., title=..., impact=..., source=...)``
opens a new incident, or, when an unresolved incident for the same ``cause_key`` exists, attaches
the new occurrence to its timeline (and raises its priority if the new one is more severe). The
check and the insert run under one database lock, so two processes firing at once open one incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.clock import Clock
from smc_agent.ops.incidents.priority import EventKind, Priority
from smc_agent.ops.incidents.record import IncidentRecord
from smc_agent.ops.incidents.service import IncidentService, MessageSink, serialize_opening
from smc_agent.store.db import transaction
from smc_agent.store.models import IncidentEvent

ATTACH_QUIET = timedelta(seconds=60)
"""A repeating trigger writes at most one ``attached`` event per source per minute."""

SUGGESTED_PRIORITY: dict[str, Priority] = {
    "halt.latched": Priority.P0,
    "health.failing": Priority.P0,
    "risk.breaker": Priority.P1,
    "reconciliation.mismatch": Priority.P1,
    "venue.failover": Priority.P1,
    "venue.unreachable": Priority.P1,
    "websocket.disconnected": Priority.P2,
    "api.latency": Priority.P2,
}
"""Suggested priority by the first part of a cause key (e.g. ``risk.breaker:daily_loss``)."""


def suggested_priority(cause_key: str, default: Priority = Priority.P2) -> Priority:
    return SUGGESTED_PRIORITY.get(cause_key.split(":", 1)[0], default)


@dataclass(frozen=True, slots=True)
class OpenOutcome:
    record: IncidentRecord
    created: bool


class IncidentOpener:
    def __init__(self, factory: sessionmaker[Session], *, clock: Clock, sink: MessageSink | None) -> None:
        self._factory = factory
        self._clock = clock
        self._sink = sink

    def open_or_attach(
        self,
        *,
        cause_key: str,
        priority: Priority | str | None = None,
        title: str,
        impact: str,
        source: str,
        actor: str = "automation",
        category: str = "general",
        description: str | None = None,
        actions: Sequence[str] = (),
        related: Sequence[str] = (),
    ) -> OpenOutcome:
        """``related``: cause keys of the same outage (e.g. the venue failover and the venue being
        unreachable); an open incident for one of them is attached to instead of opening another."""
        if not cause_key.strip():
            raise ValueError("open_or_attach needs a cause_key (e.g. 'risk.breaker:daily_loss')")
        prio = (
            suggested_priority(cause_key)
            if priority is None
            else (priority if isinstance(priority, Priority) else Priority.parse(priority))
        )
        with transaction(self._factory) as session:
            service = IncidentService(session, clock=self._clock, sink=self._sink)
            serialize_opening(session)
            existing = service.find_open(cause_key)
            for key in related:
                existing = existing or service.find_open(key)
            if existing is None:
                record = service.open(
                    priority=prio,
                    title=title,
                    impact=impact,
                    actor=actor,
                    source=source,
                    cause_key=cause_key,
                    category=category,
                    description=description,
                    actions=actions,
                )
                return OpenOutcome(record, created=True)
            self._attach(
                service,
                session,
                existing.id,
                Priority(existing.priority),
                prio,
                title=title,
                source=source,
                actor=actor,
                actions=actions,
            )
            return OpenOutcome(service.get(existing.id), created=False)

    def _attach(
        self,
        service: IncidentService,
        session: Session,
        incident_id: str,
        current: Priority,
        new: Priority,
        *,
        title: str,
        source: str,
        actor: str,
        actions: Sequence[str],
    ) -> None:
        now = service.now()
        last = session.scalars(
            select(IncidentEvent)
            .where(
                IncidentEvent.incident_id == incident_id,
                IncidentEvent.kind == EventKind.ATTACHED.value,
                IncidentEvent.source == source,
            )
            .order_by(IncidentEvent.created_at.desc())
            .limit(1)
        ).first()
        escalate = new.number < current.number
        if escalate:
            row = service.row(incident_id)
            row.priority = new.value
            service.add_event(
                incident_id,
                kind=EventKind.STATUS_CHANGED,
                actor=actor,
                source=source,
                message=f"priority raised {current.value} -> {new.value}: {title}",
                payload={"priority_from": current.value, "priority_to": new.value},
            )
        if escalate or last is None or now - last.created_at >= ATTACH_QUIET:
            service.add_event(
                incident_id,
                kind=EventKind.ATTACHED,
                actor=actor,
                source=source,
                message=f"recurred: {title}",
                payload={"priority": new.value},
            )
        for action in actions:
            service.record_action(incident_id, message=action, actor=actor, source=source)
