"""Post-mortem draft in Markdown: summary, durations, timeline, actions, the playbook's checklists."""

from __future__ import annotations

from datetime import datetime, timedelta

from smc_agent.ops.incidents.priority import EventKind, format_duration
from smc_agent.ops.incidents.record import IncidentRecord

CHECKLISTS = {
    "Immediate Post-Resolution (0-2 hours)": [
        "Verify all systems are fully operational",
        "Remove any temporary workarounds",
        "Update monitoring and alerting if needed",
        "Send resolution notification to stakeholders",
        "Begin collecting data for post-mortem",
    ],
    "Post-Mortem Process (24-48 hours)": [
        "Schedule post-mortem meeting within 24 hours",
        "Prepare timeline of events",
        "Identify root cause(s)",
        "Document lessons learned",
        "Create action items for prevention",
        "Update runbooks and procedures",
    ],
    "Follow-up Actions (1-2 weeks)": [
        "Implement preventive measures",
        "Update monitoring and alerting",
        "Conduct training if needed",
        "Review and update incident response procedures",
        "Share learnings with broader team",
    ],
}


def _since_start(record: IncidentRecord, at: datetime | None) -> str:
    if at is None:
        return "not yet"
    return f"{format_duration(at - record.started_at)} ({at:%Y-%m-%d %H:%M:%S} UTC)"


def _checked(record: IncidentRecord, item: str) -> bool:
    """Items the system can prove done are ticked; people tick the rest."""
    if item == "Send resolution notification to stakeholders":
        return any(e.payload.get("kind") == "resolution" for e in record.events_of(EventKind.NOTIFIED))
    if item == "Prepare timeline of events":
        return True  # this document
    if item == "Identify root cause(s)":
        return bool(record.root_cause)
    return False


def draft(record: IncidentRecord, *, now: datetime) -> str:
    lines = [
        f"# Post-mortem {record.id}: {record.title}",
        "",
        f"*Draft generated {now:%Y-%m-%d %H:%M} UTC by `smc-agent incident postmortem {record.id}`.*",
        "",
        "## Summary",
        "",
        f"- **Severity**: {record.priority.value} - {record.priority.label}",
        f"- **Status**: {record.status.value}",
        f"- **Impact**: {record.impact}",
        f"- **Incident commander**: {record.commander or 'not assigned'}",
        f"- **Started**: {record.started_at:%Y-%m-%d %H:%M:%S} UTC",
        f"- **Data lost**: {({True: 'yes', False: 'no', None: 'unknown'})[record.data_lost]}",
        f"- **Root cause**: {record.root_cause or 'to be determined'}",
        f"- **Resolution**: {record.resolution or 'not resolved yet'}",
        "",
        "## Durations",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| time to acknowledge | {_since_start(record, record.acknowledged_at)} | "
        f"{format_duration(record.priority.response_time)} |",
        f"| time to mitigate | {_since_start(record, record.mitigated_at)} | |",
        f"| time to resolve | {_since_start(record, record.resolved_at)} | |",
    ]
    if record.acknowledged_at is not None:
        met = record.acknowledged_at - record.started_at <= record.priority.response_time
        lines += ["", f"Response-time target {'met' if met else 'MISSED'}."]
    lines += [
        "",
        "## Timeline (UTC)",
        "",
        "| time | +elapsed | kind | who | source | what |",
        "|---|---|---|---|---|---|",
    ]
    for event in record.events:
        offset = format_duration(max(event.at - record.started_at, timedelta(0)))
        what = event.message.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {event.at:%H:%M:%S} | +{offset} | {event.kind.value} | {event.actor} | "
            f"{event.source} | {what} |"
        )
    lines += ["", "## Actions taken", ""]
    actions = record.actions
    lines += [f"- {a.at:%H:%M:%S} {a.message} ({a.actor})" for a in actions] or ["- none recorded"]
    lines += ["", "## Action items", ""]
    lines += [
        f"- [{'x' if t.done_at else ' '}] {t.title} (owner: {t.owner or 'unassigned'}"
        + ("" if t.due_at is None else f", due {t.due_at:%Y-%m-%d}")
        + ")"
        for t in record.tasks
    ] or ["- [ ] (add action items for prevention)"]
    lines += [
        "",
        "## Lessons learned",
        "",
        "- What went well:",
        "- What went wrong:",
        "- Where we got lucky:",
    ]
    for title, items in CHECKLISTS.items():
        lines += ["", f"## {title}", ""]
        lines += [f"- [{'x' if _checked(record, item) else ' '}] {item}" for item in items]
    return "\n".join(lines) + "\n"
