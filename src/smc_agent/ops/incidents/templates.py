"""The playbook's three messages (initial alert, status update, resolution), every field filled.

The text follows the playbook's "Communication Templates" line by line; each ``{FIELD}`` is
filled from the incident record. A field the record cannot fill gets an explicit statement
("none recorded yet") rather than a blank, so no placeholder ever leaves the system.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from smc_agent.ops.incidents.priority import Status, format_duration
from smc_agent.ops.incidents.record import IncidentRecord

INITIAL = """\
🚨 INCIDENT ALERT - P{SEVERITY}

**Incident ID**: {INCIDENT_ID}
**Severity**: P{SEVERITY} - {SEVERITY_NAME}
**Status**: Investigating
**Impact**: {IMPACT_DESCRIPTION}
**Started**: {START_TIME}

**Initial Assessment**:
{BRIEF_DESCRIPTION}

**Actions Taken**:
{ACTIONS}

**Next Update**: In {TIME_INTERVAL}

**Incident Commander**: {IC_NAME}
**War Room**: {SLACK_CHANNEL}"""

UPDATE = """\
📊 INCIDENT UPDATE - P{SEVERITY}

**Incident ID**: {INCIDENT_ID}
**Status**: {CURRENT_STATUS}
**Duration**: {ELAPSED_TIME}

**Progress Update**:
{PROGRESS_DESCRIPTION}

**Actions Completed**:
{COMPLETED_ACTIONS}

**Next Steps**:
{NEXT_ACTIONS}

**ETA to Resolution**: {ESTIMATED_TIME}
**Next Update**: In {TIME_INTERVAL}"""

RESOLUTION = """\
✅ INCIDENT RESOLVED - P{SEVERITY}

**Incident ID**: {INCIDENT_ID}
**Status**: Resolved
**Total Duration**: {TOTAL_DURATION}
**Resolution Time**: {RESOLUTION_TIME}
**Data Lost**: {DATA_LOST}

**Root Cause**:
{ROOT_CAUSE_SUMMARY}

**Resolution**:
{RESOLUTION_SUMMARY}

**Follow-up Actions**:
{FOLLOWUP_ACTIONS}

**Post-Mortem**: {POST_MORTEM_LINK}"""

DEFAULT_WAR_ROOM = "#incident-war-room"


def _bullets(items: Iterable[str], empty: str) -> str:
    lines = [f"- {item}" for item in items if item.strip()]
    return "\n".join(lines) if lines else f"- {empty}"


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _commander(record: IncidentRecord, fallback: str) -> str:
    return record.commander or f"{fallback} (on-call, not yet acknowledged)"


def initial_alert(
    record: IncidentRecord,
    *,
    now: datetime,
    war_room: str = DEFAULT_WAR_ROOM,
    on_call_ic: str = "@oncall-ic",
) -> str:
    del now  # the initial alert describes the incident as opened
    return INITIAL.format(
        SEVERITY=record.priority.number,
        INCIDENT_ID=record.id,
        SEVERITY_NAME=record.priority.label,
        IMPACT_DESCRIPTION=record.impact,
        START_TIME=_ts(record.started_at),
        BRIEF_DESCRIPTION=record.title
        if record.description == record.title
        else f"{record.title}. {record.description}",
        ACTIONS=_bullets((a.message for a in record.actions), "None yet: responders are being paged"),
        TIME_INTERVAL=format_duration(record.priority.update_interval),
        IC_NAME=_commander(record, on_call_ic),
        SLACK_CHANNEL=war_room,
    )


def status_update(record: IncidentRecord, *, now: datetime, progress: str, eta: str | None) -> str:
    completed = [a.message for a in record.actions] + [
        f"{t.title} ({t.owner or 'unassigned'})" for t in record.done_tasks
    ]
    next_steps = [
        f"{t.title} (owner {t.owner or 'unassigned'}"
        + ("" if t.due_at is None else f", due {t.due_at:%H:%M} UTC")
        + ")"
        for t in record.open_tasks
    ]
    return UPDATE.format(
        SEVERITY=record.priority.number,
        INCIDENT_ID=record.id,
        CURRENT_STATUS=record.status.value.capitalize(),
        ELAPSED_TIME=format_duration(now - record.started_at),
        PROGRESS_DESCRIPTION=progress,
        COMPLETED_ACTIONS=_bullets(completed, "None recorded yet"),
        NEXT_ACTIONS=_bullets(
            next_steps, "Continue investigation; tasks will be listed as they are assigned"
        ),
        ESTIMATED_TIME=eta or "Not yet known (will be given in the next update)",
        TIME_INTERVAL=format_duration(record.priority.update_interval),
    )


def postmortem_link(record: IncidentRecord, base_url: str | None = None) -> str:
    if base_url:
        return f"{base_url.rstrip('/')}/{record.id}"
    return f"docs/postmortems/{record.id}.md (draft: smc-agent incident postmortem {record.id})"


def resolution(record: IncidentRecord, *, now: datetime, postmortem_base_url: str | None = None) -> str:
    if record.status is not Status.RESOLVED or record.resolved_at is None:
        raise ValueError(f"incident {record.id} is not resolved")
    del now
    ack = record.acknowledged_at or record.started_at
    follow_ups = [
        f"{t.title} (owner {t.owner or 'unassigned'}"
        + ("" if t.due_at is None else f", due {t.due_at:%Y-%m-%d}")
        + ")"
        for t in record.open_tasks
    ]
    data_lost = {
        True: "Yes: data was lost (see the post-mortem for scope)",
        False: "No data was lost",
        None: "Unknown",
    }[record.data_lost]
    return RESOLUTION.format(
        SEVERITY=record.priority.number,
        INCIDENT_ID=record.id,
        TOTAL_DURATION=format_duration(record.resolved_at - record.started_at),
        RESOLUTION_TIME=f"{_ts(record.resolved_at)} "
        f"({format_duration(record.resolved_at - ack)} after acknowledgement)",
        DATA_LOST=data_lost,
        ROOT_CAUSE_SUMMARY=record.root_cause or "",
        RESOLUTION_SUMMARY=record.resolution or "",
        FOLLOWUP_ACTIONS=_bullets(follow_ups, "Post-mortem meeting within 24 hours (playbook)"),
        POST_MORTEM_LINK=postmortem_link(record, postmortem_base_url),
    )
