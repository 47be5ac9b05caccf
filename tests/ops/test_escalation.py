"""Escalation with a test clock: pages, no-progress triggers, restarts (state lives in the database)."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.clock import TestClock
from smc_agent.ops.escalation import EscalationScheduler
from smc_agent.ops.incidents.priority import EventKind, Priority, Status
from smc_agent.ops.incidents.service import IncidentService
from smc_agent.ops.notify.router import NotificationRouter
from smc_agent.ops.settings import OnCallRole, OpsSettings
from smc_agent.store.db import transaction
from smc_agent.store.models import NotificationOutbox

MIN = 60_000


def _router() -> NotificationRouter:
    return NotificationRouter(
        OpsSettings(
            slack_critical_webhook=SecretStr("http://127.0.0.1:9/x"),
            slack_security_webhook=SecretStr("http://127.0.0.1:9/y"),
        )
    )


def _open(
    factory: sessionmaker[Session], clock: TestClock, priority: Priority, category: str = "general"
) -> str:
    with transaction(factory) as s:
        return (
            IncidentService(s, clock=clock)
            .open(
                priority=priority,
                title="Outage",
                impact="down",
                actor="auto",
                source="health",
                category=category,
            )
            .id
        )


def _keys(fired: list[tuple[str, str]]) -> list[str]:
    return sorted(k for _, k in fired)


def test_unacknowledged_p0_pages_secondary_then_escalation(
    factory: sessionmaker[Session], clock: TestClock
) -> None:
    inc = _open(factory, clock, Priority.P0)
    router = _router()
    assert _keys(EscalationScheduler(factory, clock=clock, router=router).tick()) == [
        "page:devops:primary",
        "page:incident_commander:primary",
    ]
    clock.advance(5 * MIN - 1)
    assert EscalationScheduler(factory, clock=clock, router=router).tick() == []
    clock.advance(1)
    restarted = EscalationScheduler(factory, clock=clock, router=router)  # a fresh process
    assert _keys(restarted.tick()) == ["page:devops:secondary", "page:incident_commander:secondary"]
    assert restarted.tick() == []
    clock.advance(5 * MIN)
    assert _keys(EscalationScheduler(factory, clock=clock, router=router).tick()) == [
        "page:devops:escalation",
        "page:incident_commander:escalation",
    ]
    with transaction(factory) as s:
        record = IncidentService(s, clock=clock).get(inc)
        texts = [
            r.payload["text"]
            for r in s.scalars(select(NotificationOutbox).order_by(NotificationOutbox.created_at))
        ]
    handles = [e.payload["handle"] for e in record.events_of(EventKind.PAGED)]
    assert handles == [
        "@oncall-ic",
        "@oncall-devops",
        "@backup-ic",
        "@backup-devops",
        "@engineering-manager",
        "@devops-lead",
    ]
    assert len(texts) == 6 and all(f"smc-agent incident ack {inc}" in t for t in texts)
    assert "PAGE @engineering-manager" in texts[4]


def test_acknowledgement_stops_pages_and_progress_resets_no_progress(
    factory: sessionmaker[Session], clock: TestClock
) -> None:
    inc = _open(factory, clock, Priority.P0)
    sched = EscalationScheduler(factory, clock=clock, router=_router())
    sched.tick()
    clock.advance(2 * MIN)
    with transaction(factory) as s:
        IncidentService(s, clock=clock).acknowledge(inc, actor="bob", source="cli")  # progress at 2 min
    clock.advance(15 * MIN - 1)
    assert sched.tick() == []  # no secondary page (acknowledged), no-progress not yet due
    clock.advance(1)
    assert [k.split(":")[0] for _, k in sched.tick()] == ["no_progress"]
    assert sched.tick() == []  # once per stall
    clock.advance(MIN)
    with transaction(factory) as s:
        IncidentService(s, clock=clock).update(
            inc, status=Status.IDENTIFIED, note="cause found", actor="bob", source="cli"
        )
    clock.advance(15 * MIN)
    assert [k.split(":")[0] for _, k in sched.tick()] == ["no_progress"]
    clock.advance(60 * MIN - 33 * MIN)  # 1 h after the start
    assert "customer_escalation" in _keys(sched.tick())
    clock.advance(60 * MIN)
    assert "regulatory" in _keys(sched.tick())


def test_p1_no_progress_after_30_minutes_and_p2_has_none(
    factory: sessionmaker[Session], clock: TestClock
) -> None:
    p1 = _open(factory, clock, Priority.P1)
    p2 = _open(factory, clock, Priority.P2)
    clock.advance(1000)
    with transaction(factory) as s:
        svc = IncidentService(s, clock=clock)
        svc.acknowledge(p1, actor="a", source="cli")
        svc.acknowledge(p2, actor="a", source="cli")
    sched = EscalationScheduler(factory, clock=clock, router=_router())
    clock.advance(30 * MIN - 1)
    assert sched.tick() == []
    clock.advance(1)
    assert [(i, k.split(":")[0]) for i, k in sched.tick()] == [(p1, "no_progress")]
    clock.advance(5 * 60 * MIN)
    assert {i for i, _ in sched.tick()} == {p1}


def test_security_incident_pages_security_from_the_configured_matrix(
    factory: sessionmaker[Session], clock: TestClock
) -> None:
    inc = _open(factory, clock, Priority.P0, category="security")
    router = _router()
    matrix = dict(router.settings.oncall)
    matrix["security"] = OnCallRole(primary="@sec-alice", secondary="@sec-bob", escalation="@ciso")
    EscalationScheduler(factory, clock=clock, router=router, matrix=matrix).tick()
    with transaction(factory) as s:
        rows = s.scalars(select(NotificationOutbox).where(NotificationOutbox.incident_id == inc)).all()
    security = [r for r in rows if r.payload.get("role") == "security"]
    assert [(r.channel, r.payload["handle"]) for r in security] == [("slack-security", "@sec-alice")]
