"""Read-only views of an incident with its timeline and tasks (what templates and the CLI use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smc_agent.ops.incidents.priority import EventKind, Priority, Status
from smc_agent.store.models import Incident, IncidentEvent, IncidentTask


@dataclass(frozen=True, slots=True)
class EventView:
    id: str
    at: datetime
    kind: EventKind
    actor: str
    source: str
    message: str
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: IncidentEvent) -> EventView:
        return cls(
            row.id,
            row.created_at,
            EventKind(row.kind),
            row.actor,
            row.source,
            row.message,
            dict(row.payload or {}),
        )


@dataclass(frozen=True, slots=True)
class TaskView:
    id: str
    title: str
    owner: str | None
    due_at: datetime | None
    done_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: IncidentTask) -> TaskView:
        return cls(row.id, row.title, row.owner, row.due_at, row.done_at, row.created_at)


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: str
    priority: Priority
    title: str
    impact: str
    status: Status
    commander: str | None
    cause_key: str | None
    started_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    root_cause: str | None
    resolution: str | None
    data_lost: bool | None
    events: tuple[EventView, ...] = field(default=())
    tasks: tuple[TaskView, ...] = field(default=())

    @classmethod
    def of(cls, row: Incident, events: list[IncidentEvent], tasks: list[IncidentTask]) -> IncidentRecord:
        return cls(
            id=row.id,
            priority=Priority(row.priority),
            title=row.title,
            impact=row.impact,
            status=Status(row.status),
            commander=row.commander,
            cause_key=row.cause_key,
            started_at=row.started_at,
            acknowledged_at=row.acknowledged_at,
            mitigated_at=row.mitigated_at,
            resolved_at=row.resolved_at,
            root_cause=row.root_cause,
            resolution=row.resolution,
            data_lost=row.data_lost,
            events=tuple(EventView.of(e) for e in events),
            tasks=tuple(TaskView.of(t) for t in tasks),
        )

    @property
    def category(self) -> str:
        """``general``, ``security`` or ``data``: set when the incident was opened."""
        for event in self.events:
            if event.kind is EventKind.OPENED:
                return str(event.payload.get("category", "general"))
        return "general"

    @property
    def description(self) -> str:
        for event in self.events:
            if event.kind is EventKind.OPENED:
                return str(event.payload.get("description") or self.title)
        return self.title

    def events_of(self, *kinds: EventKind) -> list[EventView]:
        return [e for e in self.events if e.kind in kinds]

    @property
    def actions(self) -> list[EventView]:
        return self.events_of(EventKind.ACTION, EventKind.RUNBOOK)

    @property
    def open_tasks(self) -> list[TaskView]:
        return [t for t in self.tasks if t.done_at is None]

    @property
    def done_tasks(self) -> list[TaskView]:
        return [t for t in self.tasks if t.done_at is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "priority": self.priority.value,
            "title": self.title,
            "impact": self.impact,
            "status": self.status.value,
            "commander": self.commander,
            "cause_key": self.cause_key,
            "category": self.category,
            "started_at": self.started_at.isoformat(),
            "acknowledged_at": _iso(self.acknowledged_at),
            "mitigated_at": _iso(self.mitigated_at),
            "resolved_at": _iso(self.resolved_at),
            "root_cause": self.root_cause,
            "resolution": self.resolution,
            "data_lost": self.data_lost,
            "events": [
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "kind": e.kind.value,
                    "actor": e.actor,
                    "source": e.source,
                    "message": e.message,
                    "payload": e.payload,
                }
                for e in self.events
            ],
            "tasks": [
                {
                    "id": t.id,
                    "title": t.title,
                    "owner": t.owner,
                    "due_at": _iso(t.due_at),
                    "done_at": _iso(t.done_at),
                }
                for t in self.tasks
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
