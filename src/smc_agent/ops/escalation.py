"""Escalation: pages along the on-call matrix and the playbook's escalation triggers.

The schedule is *derived* from the incident and its timeline, and every fired trigger is written to
the timeline (``paged`` / ``escalated`` events keyed by ``payload.trigger``). The scheduler keeps no
state of its own: after a restart it recomputes what is due and skips what the timeline says has
fired. Two schedulers may run; a database lock makes each trigger fire once.

Triggers (playbook, "Escalation Matrix"):

- pages: the primary of each responding role at once; the secondary when the incident is not
  acknowledged within the priority's response time (5 min P0, 15 min P1, 1 h P2, 4 h P3); the
  escalation contact after twice that;
- no progress: 15 min on a P0, 30 min on a P1 without a progress event -> the IC's escalation contact
  (once per stall; progress resets it);
- 1 h unresolved (P0/P1): customer escalation; 2 h unresolved (P0/P1, or any security/data incident):
  regulatory implications.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.clock import Clock
from smc_agent.logs import get_logger
from smc_agent.ops.incidents.priority import PROGRESS_KINDS, EventKind, Priority, Status
from smc_agent.ops.incidents.record import IncidentRecord
from smc_agent.ops.incidents.service import IncidentService, ms_to_dt, serialize_opening
from smc_agent.ops.notify.router import NotificationRouter
from smc_agent.ops.settings import OnCallRole
from smc_agent.store.db import transaction
from smc_agent.store.models import Incident

log = get_logger("smc_agent.ops.escalation")

NO_PROGRESS = {Priority.P0: timedelta(minutes=15), Priority.P1: timedelta(minutes=30)}
CUSTOMER_ESCALATION = timedelta(hours=1)
REGULATORY = timedelta(hours=2)
LEVELS = ("primary", "secondary", "escalation")


@dataclass(frozen=True, slots=True)
class Trigger:
    key: str
    due: datetime
    kind: EventKind
    role: str
    level: str
    reason: str


def responding_roles(record: IncidentRecord) -> list[str]:
    roles = ["incident_commander", "devops"]
    if record.category == "security":
        roles.append("security")
    if record.category == "data":
        roles.append("dba")
    return roles


def due_triggers(record: IncidentRecord) -> list[Trigger]:
    """Every trigger of this incident with the time it becomes due (fired or not)."""
    if record.status is Status.RESOLVED:
        return []
    triggers: list[Trigger] = []
    start, response = record.started_at, record.priority.response_time
    for role in responding_roles(record) if record.acknowledged_at is None else []:
        triggers.append(
            Trigger(
                f"page:{role}:primary",
                start,
                EventKind.PAGED,
                role,
                "primary",
                f"{record.priority.value} opened",
            )
        )
        triggers.append(
            Trigger(
                f"page:{role}:secondary",
                start + response,
                EventKind.PAGED,
                role,
                "secondary",
                f"not acknowledged within {_fmt(response)}",
            )
        )
        triggers.append(
            Trigger(
                f"page:{role}:escalation",
                start + 2 * response,
                EventKind.PAGED,
                role,
                "escalation",
                f"not acknowledged within {_fmt(2 * response)}",
            )
        )
    window = NO_PROGRESS.get(record.priority)
    if window is not None:
        progress = [e for e in record.events if e.kind in PROGRESS_KINDS]
        anchor_id, anchor_at = (progress[-1].id, progress[-1].at) if progress else ("opened", start)
        triggers.append(
            Trigger(
                f"no_progress:{anchor_id}",
                anchor_at + window,
                EventKind.ESCALATED,
                "incident_commander",
                "escalation",
                f"no progress on a {record.priority.value} for {_fmt(window)}",
            )
        )
    if record.priority.number <= 1:
        triggers.append(
            Trigger(
                "customer_escalation",
                start + CUSTOMER_ESCALATION,
                EventKind.ESCALATED,
                "incident_commander",
                "escalation",
                "unresolved after 1 h: customer escalation",
            )
        )
    if record.priority.number <= 1 or record.category in ("security", "data"):
        role = "security" if record.category == "security" else "incident_commander"
        triggers.append(
            Trigger(
                "regulatory",
                start + REGULATORY,
                EventKind.ESCALATED,
                role,
                "escalation",
                "unresolved after 2 h: regulatory implications / data breach; inform Legal",
            )
        )
    return triggers


def _fmt(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes >= 60 else f"{minutes} min"


def fired_keys(record: IncidentRecord) -> set[str]:
    return {
        str(e.payload["trigger"])
        for e in record.events_of(EventKind.PAGED, EventKind.ESCALATED)
        if "trigger" in e.payload
    }


class EscalationScheduler:
    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        clock: Clock,
        router: NotificationRouter,
        matrix: dict[str, OnCallRole] | None = None,
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._router = router
        self._matrix = matrix if matrix is not None else router.settings.oncall

    def tick(self) -> list[tuple[str, str]]:
        """Fire every due trigger that has not fired; returns ``(incident id, trigger key)`` pairs."""
        now = ms_to_dt(self._clock.timestamp_ms())
        fired: list[tuple[str, str]] = []
        with transaction(self._factory) as session:
            serialize_opening(session)  # one scheduler fires at a time
            service = IncidentService(session, clock=self._clock)
            open_ids = session.scalars(
                select(Incident.id)
                .where(Incident.status != Status.RESOLVED.value)
                .order_by(Incident.started_at)
            ).all()
            for incident_id in open_ids:
                record = service.get(incident_id)
                done = fired_keys(record)
                for trigger in due_triggers(record):
                    if trigger.due <= now and trigger.key not in done:
                        self._fire(session, service, record, trigger)
                        fired.append((incident_id, trigger.key))
        return fired

    def _fire(
        self, session: Session, service: IncidentService, record: IncidentRecord, trigger: Trigger
    ) -> None:
        contact = self._matrix.get(trigger.role)
        handle = getattr(contact, trigger.level) if contact is not None else f"@{trigger.role}"
        channels = self._router.page(
            session,
            record,
            role=trigger.role,
            level=trigger.level,
            handle=handle,
            reason=trigger.reason,
            at=service.now(),
        )
        verb = "paged" if trigger.kind is EventKind.PAGED else "escalated to"
        service.add_event(
            record.id,
            kind=trigger.kind,
            actor="escalation",
            source="scheduler",
            message=f"{verb} {handle} ({trigger.role.replace('_', ' ')} {trigger.level}): {trigger.reason}",
            payload={
                "trigger": trigger.key,
                "role": trigger.role,
                "level": trigger.level,
                "handle": handle,
                "channels": channels,
            },
        )
        log.warning("incident escalation", incident=record.id, trigger=trigger.key, handle=handle)

    def run(self, stop: threading.Event, *, poll_s: float = 5.0) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                log.error("escalation tick failed", error=f"{exc.__class__.__name__}: {exc}")
            stop.wait(poll_s)
