"""Priorities P0-P3 and statuses with the playbook's response-time targets."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Priority(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @classmethod
    def parse(cls, value: str) -> Priority:
        text = value.strip().upper()
        if text.isdigit():
            text = f"P{text}"
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"unknown priority {value!r}: expected one of P0, P1, P2, P3") from None

    @property
    def number(self) -> int:
        return int(self.value[1])

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def response_time(self) -> timedelta:
        """Time within which the incident must be acknowledged (playbook, Severity Levels)."""
        return _RESPONSE[self]

    @property
    def update_interval(self) -> timedelta:
        """How often stakeholders get a status update (the templates' ``Next Update``)."""
        return _UPDATE[self]


_LABELS = {Priority.P0: "Critical", Priority.P1: "High", Priority.P2: "Medium", Priority.P3: "Low"}
_RESPONSE = {
    Priority.P0: timedelta(minutes=5),
    Priority.P1: timedelta(minutes=15),
    Priority.P2: timedelta(hours=1),
    Priority.P3: timedelta(hours=4),
}
_UPDATE = {
    Priority.P0: timedelta(minutes=15),
    Priority.P1: timedelta(minutes=30),
    Priority.P2: timedelta(hours=1),
    Priority.P3: timedelta(hours=4),
}


class Status(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"

    @classmethod
    def parse(cls, value: str) -> Status:
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown status {value!r}: expected one of {names}") from None


class EventKind(StrEnum):
    """Typed timeline entries (``incident_events.kind``)."""

    OPENED = "opened"
    ATTACHED = "attached"  # an automatic trigger fired again for the same cause
    ACKNOWLEDGED = "acknowledged"
    STATUS_CHANGED = "status_changed"
    NOTE = "note"
    ACTION = "action"  # something was done (by a person, a runbook step or an automation)
    TASK_ADDED = "task_added"
    TASK_DONE = "task_done"
    COMMANDER = "commander_changed"
    NOTIFIED = "notified"  # a provider accepted a message
    PAGED = "paged"
    ESCALATED = "escalated"
    EVIDENCE = "evidence"
    RUNBOOK = "runbook"
    RESOLVED = "resolved"


PROGRESS_KINDS = frozenset(
    {
        EventKind.ACKNOWLEDGED,
        EventKind.STATUS_CHANGED,
        EventKind.NOTE,
        EventKind.ACTION,
        EventKind.TASK_DONE,
        EventKind.RUNBOOK,
        EventKind.RESOLVED,
    }
)
"""Events that count as progress for the no-progress escalation triggers."""


def format_duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    return f"{secs} s"
