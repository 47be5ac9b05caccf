"""The incident service: open, acknowledge, update, resolve, timeline, tasks.

Services take keyword-only arguments and never commit: the caller owns the transaction (DESIGN.md
§3). Messages to stakeholders are written to the outbox *in the same transaction* (a
:class:`MessageSink`), so an incident never exists without its alert and vice versa.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from smc_agent.core.clock import Clock
from smc_agent.ops.incidents.priority import EventKind, Priority, Status
from smc_agent.ops.incidents.record import IncidentRecord
from smc_agent.store.models import Incident, IncidentEvent, IncidentTask

CATEGORIES = ("general", "security", "data")


class IncidentNotFound(LookupError):
    pass


class IncidentClosed(ValueError):
    pass


class MessageSink(Protocol):
    """Where rendered messages go (the notification outbox)."""

    def incident_message(
        self, session: Session, record: IncidentRecord, *, kind: str, at: datetime, extra: dict[str, Any]
    ) -> None:
        """``kind``: initial | update | resolution; ``extra``: progress/eta of an update."""
        ...


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def incident_id_base(at: datetime) -> str:
    return "INC-" + at.strftime("%Y%m%d-%H%M%S")


def serialize_opening(session: Session) -> None:
    """Take a database-wide lock on "opening incidents" for the rest of the transaction.

    PostgreSQL: an advisory transaction lock. SQLite: a (no-op) write, which takes the database's
    write lock (waiting out ``busy_timeout``). Used so that two processes never open two incidents
    for one cause, nor two incidents with one id.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('smc_agent.incident_open'))"))
    else:
        session.execute(update(Incident).where(text("1 = 0")).values(title=Incident.title))


class IncidentService:
    def __init__(self, session: Session, *, clock: Clock, sink: MessageSink | None = None) -> None:
        self.session = session
        self.clock = clock
        self.sink = sink

    # ------------------------------------------------------------------ reading
    def now(self) -> datetime:
        return ms_to_dt(self.clock.timestamp_ms())

    def row(self, incident_id: str) -> Incident:
        row = self.session.get(Incident, incident_id)
        if row is None:
            raise IncidentNotFound(f"no incident {incident_id!r} (see smc-agent incident list)")
        return row

    def get(self, incident_id: str) -> IncidentRecord:
        row = self.row(incident_id)
        events = self.session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == row.id)
            .order_by(IncidentEvent.created_at, IncidentEvent.id)
        ).all()
        tasks = self.session.scalars(
            select(IncidentTask)
            .where(IncidentTask.incident_id == row.id)
            .order_by(IncidentTask.created_at, IncidentTask.id)
        ).all()
        return IncidentRecord.of(row, list(events), list(tasks))

    def list_incidents(self, *, open_only: bool = False, limit: int = 50) -> list[IncidentRecord]:
        query = select(Incident).order_by(Incident.started_at.desc()).limit(limit)
        if open_only:
            query = query.where(Incident.status != Status.RESOLVED.value)
        return [self.get(row.id) for row in self.session.scalars(query).all()]

    def find_open(self, cause_key: str) -> Incident | None:
        return self.session.scalars(
            select(Incident)
            .where(Incident.cause_key == cause_key, Incident.status != Status.RESOLVED.value)
            .order_by(Incident.started_at)
            .limit(1)
        ).first()

    # ------------------------------------------------------------------ timeline
    def add_event(
        self,
        incident_id: str,
        *,
        kind: EventKind,
        message: str,
        actor: str,
        source: str,
        payload: dict[str, Any] | None = None,
    ) -> IncidentEvent:
        """Append to the timeline. Events are never edited; their times strictly increase."""
        self.row(incident_id)
        at = self.now()
        last = self.session.scalar(
            select(func.max(IncidentEvent.created_at)).where(IncidentEvent.incident_id == incident_id)
        )
        if last is not None:
            last = last if last.tzinfo else last.replace(tzinfo=UTC)
            if at <= last:
                at = last + timedelta(microseconds=1)
        event = IncidentEvent(
            incident_id=incident_id,
            kind=kind.value,
            actor=actor,
            source=source,
            message=message,
            payload=payload or {},
            created_at=at,
        )
        self.session.add(event)
        self.session.flush()
        return event

    # ------------------------------------------------------------------ lifecycle
    def open(
        self,
        *,
        priority: Priority,
        title: str,
        impact: str,
        actor: str,
        source: str,
        commander: str | None = None,
        cause_key: str | None = None,
        category: str = "general",
        description: str | None = None,
        actions: Sequence[str] = (),
    ) -> IncidentRecord:
        if not title.strip():
            raise ValueError("an incident needs a title")
        if not impact.strip():
            raise ValueError("an incident needs an impact description")
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}: expected one of {', '.join(CATEGORIES)}")
        serialize_opening(self.session)
        now = self.now()
        incident_id = self._free_id(incident_id_base(now))
        row = Incident(
            id=incident_id,
            priority=priority.value,
            title=title.strip(),
            impact=impact.strip(),
            status=Status.INVESTIGATING.value,
            commander=commander,
            cause_key=cause_key,
            started_at=now,
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        self.add_event(
            incident_id,
            kind=EventKind.OPENED,
            actor=actor,
            source=source,
            message=f"{priority.value} incident opened: {title.strip()}",
            payload={
                "category": category,
                "description": description or title.strip(),
                "cause_key": cause_key,
                "priority": priority.value,
            },
        )
        for action in actions:
            self.add_event(incident_id, kind=EventKind.ACTION, actor=actor, source=source, message=action)
        record = self.get(incident_id)
        self._emit(record, "initial")
        return record

    def _free_id(self, base: str) -> str:
        taken = set(self.session.scalars(select(Incident.id).where(Incident.id.like(f"{base}%"))).all())
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    def acknowledge(self, incident_id: str, *, actor: str, source: str) -> IncidentRecord:
        row = self._open_row(incident_id)
        if row.acknowledged_at is None:
            row.acknowledged_at = self.now()
            if row.commander is None:
                row.commander = actor
            self.add_event(
                incident_id,
                kind=EventKind.ACKNOWLEDGED,
                actor=actor,
                source=source,
                message=f"acknowledged by {actor}",
            )
        return self.get(incident_id)

    def set_commander(self, incident_id: str, *, commander: str, actor: str, source: str) -> IncidentRecord:
        row = self._open_row(incident_id)
        previous, row.commander = row.commander, commander
        self.add_event(
            incident_id,
            kind=EventKind.COMMANDER,
            actor=actor,
            source=source,
            message=f"incident commander: {commander}",
            payload={"previous": previous},
        )
        return self.get(incident_id)

    def update(
        self,
        incident_id: str,
        *,
        status: Status | None,
        note: str,
        actor: str,
        source: str,
        eta: str | None = None,
        notify: bool = True,
    ) -> IncidentRecord:
        """Change status and/or add a progress note; sends the status-update message."""
        if status is Status.RESOLVED:
            raise ValueError("use resolve (root cause and resolution are required) to resolve an incident")
        if not note.strip():
            raise ValueError("a status update needs a note describing the progress")
        row = self._open_row(incident_id)
        now = self.now()
        if row.acknowledged_at is None:  # somebody is working on it
            row.acknowledged_at = now
            row.commander = row.commander or actor
            self.add_event(
                incident_id,
                kind=EventKind.ACKNOWLEDGED,
                actor=actor,
                source=source,
                message=f"acknowledged by {actor} (first update)",
            )
        if status is not None and status.value != row.status:
            previous, row.status = row.status, status.value
            if status is Status.MONITORING and row.mitigated_at is None:
                row.mitigated_at = now
            self.add_event(
                incident_id,
                kind=EventKind.STATUS_CHANGED,
                actor=actor,
                source=source,
                message=f"status {previous} -> {status.value}: {note.strip()}",
                payload={"from": previous, "to": status.value, "note": note.strip(), "eta": eta},
            )
        else:
            self.add_event(
                incident_id,
                kind=EventKind.NOTE,
                actor=actor,
                source=source,
                message=note.strip(),
                payload={"eta": eta},
            )
        record = self.get(incident_id)
        if notify:
            self._emit(record, "update", progress=note.strip(), eta=eta)
        return record

    def mark_mitigated(self, incident_id: str, *, actor: str, source: str, note: str) -> IncidentRecord:
        row = self._open_row(incident_id)
        if row.mitigated_at is None:
            row.mitigated_at = self.now()
        self.add_event(
            incident_id,
            kind=EventKind.ACTION,
            actor=actor,
            source=source,
            message=f"mitigated: {note}",
            payload={"mitigation": True},
        )
        return self.get(incident_id)

    def record_action(
        self,
        incident_id: str,
        *,
        message: str,
        actor: str,
        source: str,
        payload: dict[str, Any] | None = None,
    ) -> IncidentEvent:
        return self.add_event(
            incident_id, kind=EventKind.ACTION, actor=actor, source=source, message=message, payload=payload
        )

    def resolve(
        self,
        incident_id: str,
        *,
        root_cause: str,
        resolution: str,
        data_lost: bool,
        actor: str,
        source: str,
    ) -> IncidentRecord:
        if not root_cause.strip() or not resolution.strip():
            raise ValueError("resolving needs both a root cause and a resolution")
        row = self._open_row(incident_id)
        now = self.now()
        row.acknowledged_at = row.acknowledged_at or now
        row.mitigated_at = row.mitigated_at or now
        row.status, row.resolved_at = Status.RESOLVED.value, now
        row.root_cause, row.resolution, row.data_lost = root_cause.strip(), resolution.strip(), data_lost
        self.add_event(
            incident_id,
            kind=EventKind.RESOLVED,
            actor=actor,
            source=source,
            message=f"resolved: {resolution.strip()}",
            payload={"root_cause": root_cause.strip(), "data_lost": data_lost},
        )
        record = self.get(incident_id)
        self._emit(record, "resolution")
        return record

    def _open_row(self, incident_id: str) -> Incident:
        row = self.row(incident_id)
        if row.status == Status.RESOLVED.value:
            raise IncidentClosed(f"incident {incident_id} is resolved; open a new incident instead")
        return row

    # ------------------------------------------------------------------ tasks
    def add_task(
        self,
        incident_id: str,
        *,
        title: str,
        owner: str | None,
        due_at: datetime | None,
        actor: str,
        source: str,
    ) -> IncidentTask:
        if not title.strip():
            raise ValueError("a task needs a title")
        if due_at is not None and due_at.tzinfo is None:
            raise ValueError("a task's due date must carry a time zone (e.g. 2026-11-30T12:00Z)")
        self.row(incident_id)
        task = IncidentTask(
            incident_id=incident_id, title=title.strip(), owner=owner, due_at=due_at, created_at=self.now()
        )
        self.session.add(task)
        self.session.flush()
        due = "" if due_at is None else f", due {due_at:%Y-%m-%d %H:%M} UTC"
        self.add_event(
            incident_id,
            kind=EventKind.TASK_ADDED,
            actor=actor,
            source=source,
            message=f"task: {task.title} (owner {owner or 'unassigned'}{due})",
            payload={"task_id": task.id},
        )
        return task

    def complete_task(self, task_id: str, *, actor: str, source: str) -> IncidentTask:
        task = self.session.get(IncidentTask, task_id)
        if task is None:
            raise IncidentNotFound(f"no incident task {task_id!r}")
        if task.done_at is None:
            task.done_at = self.now()
            self.add_event(
                task.incident_id,
                kind=EventKind.TASK_DONE,
                actor=actor,
                source=source,
                message=f"task done: {task.title}",
                payload={"task_id": task.id},
            )
        return task

    # ------------------------------------------------------------------ messages
    def _emit(self, record: IncidentRecord, kind: str, **extra: Any) -> None:
        if self.sink is not None:
            self.sink.incident_message(self.session, record, kind=kind, at=self.now(), extra=extra)
