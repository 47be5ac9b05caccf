"""Incident service: ids, lifecycle, append-only timeline, tasks, de-duplicated automatic opening."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.clock import TestClock
from smc_agent.ops.incidents.auto import IncidentOpener, suggested_priority
from smc_agent.ops.incidents.priority import EventKind, Priority, Status, format_duration
from smc_agent.ops.incidents.service import IncidentClosed, IncidentNotFound, IncidentService
from smc_agent.store.db import transaction
from smc_agent.store.models import Incident

from .conftest import T0


def _open(factory: sessionmaker[Session], clock: TestClock, **kw: object) -> str:
    args: dict[str, object] = {
        "priority": Priority.P0,
        "title": "System outage",
        "impact": "No trading",
        "actor": "alice",
        "source": "cli",
    }
    args.update(kw)
    with transaction(factory) as s:
        return IncidentService(s, clock=clock).open(**args).id  # type: ignore[arg-type]


def test_priorities_follow_the_playbook() -> None:
    assert [p.response_time for p in Priority] == [
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
    ]
    assert Priority.parse("p1") is Priority.P1 and Priority.parse("0") is Priority.P0
    with pytest.raises(ValueError, match="P0, P1, P2, P3"):
        Priority.parse("P5")
    with pytest.raises(ValueError, match="investigating"):
        Status.parse("fixed")


def test_ids_are_utc_timestamps_and_unique_within_one_second(
    factory: sessionmaker[Session], clock: TestClock
) -> None:
    first = _open(factory, clock)
    second = _open(factory, clock, title="Second")
    clock.advance(400)  # same second
    third = _open(factory, clock, title="Third")
    assert first == "INC-20261129-100000"
    assert second == "INC-20261129-100000-2"
    assert third == "INC-20261129-100000-3"


def test_lifecycle_timeline_and_durations(factory: sessionmaker[Session], clock: TestClock) -> None:
    inc = _open(factory, clock, actions=["Trading halted (emergency_halt set)"])
    clock.advance(3 * 60_000)
    with transaction(factory) as s:
        IncidentService(s, clock=clock).acknowledge(inc, actor="bob", source="cli")
    clock.advance(60_000)
    with transaction(factory) as s:
        svc = IncidentService(s, clock=clock)
        svc.update(inc, status=Status.IDENTIFIED, note="Binance API down", actor="bob", source="cli")
        task = svc.add_task(
            inc,
            title="Fail over to Bybit",
            owner="carol",
            due_at=T0 + timedelta(minutes=30),
            actor="bob",
            source="cli",
        )
    clock.advance(60_000)
    with transaction(factory) as s:
        svc = IncidentService(s, clock=clock)
        svc.complete_task(task.id, actor="carol", source="cli")
        svc.update(inc, status=Status.MONITORING, note="Trading on Bybit", actor="bob", source="cli")
    clock.advance(10 * 60_000)
    with transaction(factory) as s:
        rec = IncidentService(s, clock=clock).resolve(
            inc,
            root_cause="Binance outage",
            resolution="Failed over",
            data_lost=False,
            actor="bob",
            source="cli",
        )
    assert rec.status is Status.RESOLVED and rec.commander == "bob"
    assert rec.acknowledged_at == T0 + timedelta(minutes=3)
    assert rec.mitigated_at == T0 + timedelta(minutes=5)
    assert rec.resolved_at == T0 + timedelta(minutes=15)
    kinds = [e.kind for e in rec.events]
    assert kinds == [
        EventKind.OPENED,
        EventKind.ACTION,
        EventKind.ACKNOWLEDGED,
        EventKind.STATUS_CHANGED,
        EventKind.TASK_ADDED,
        EventKind.TASK_DONE,
        EventKind.STATUS_CHANGED,
        EventKind.RESOLVED,
    ]
    times = [e.at for e in rec.events]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert rec.tasks[0].owner == "carol" and rec.tasks[0].done_at == T0 + timedelta(minutes=5)
    with transaction(factory) as s, pytest.raises(IncidentClosed):
        IncidentService(s, clock=clock).update(inc, status=None, note="again", actor="x", source="cli")


def test_bad_input_is_named(factory: sessionmaker[Session], clock: TestClock) -> None:
    with pytest.raises(ValueError, match="title"):
        _open(factory, clock, title=" ")
    with pytest.raises(ValueError, match="category"):
        _open(factory, clock, category="weird")
    with transaction(factory) as s:
        svc = IncidentService(s, clock=clock)
        with pytest.raises(IncidentNotFound, match="INC-nope"):
            svc.get("INC-nope")
    inc = _open(factory, clock)
    with transaction(factory) as s:
        svc = IncidentService(s, clock=clock)
        with pytest.raises(ValueError, match="root cause"):
            svc.resolve(inc, root_cause="", resolution="x", data_lost=False, actor="a", source="cli")
        with pytest.raises(ValueError, match="use resolve"):
            svc.update(inc, status=Status.RESOLVED, note="done", actor="a", source="cli")


def test_open_or_attach_deduplicates_per_cause(factory: sessionmaker[Session], clock: TestClock) -> None:
    opener = IncidentOpener(factory, clock=clock, sink=None)
    first = opener.open_or_attach(
        cause_key="risk.breaker:daily_loss",
        title="Daily loss breaker tripped",
        impact="Trading reduced",
        source="risk",
    )
    assert first.created and first.record.priority is suggested_priority("risk.breaker:x") is Priority.P1
    clock.advance(1000)
    again = opener.open_or_attach(
        cause_key="risk.breaker:daily_loss",
        title="Daily loss breaker tripped",
        impact="Trading reduced",
        source="risk",
    )
    assert not again.created and again.record.id == first.record.id
    clock.advance(1000)
    other = opener.open_or_attach(
        cause_key="venue.failover:binance", title="Failover", impact="x", source="failover"
    )
    assert other.created and other.record.id != first.record.id
    clock.advance(120_000)
    worse = opener.open_or_attach(
        cause_key="risk.breaker:daily_loss",
        priority="P0",
        title="Loss limit hit",
        impact="Trading halted",
        source="risk",
    )
    assert worse.record.priority is Priority.P0
    assert [e.kind for e in worse.record.events].count(EventKind.ATTACHED) == 2  # 1 s repeat stays quiet
    with transaction(factory) as s:
        IncidentService(s, clock=clock).resolve(
            first.record.id, root_cause="r", resolution="r", data_lost=False, actor="a", source="cli"
        )
    reopened = opener.open_or_attach(
        cause_key="risk.breaker:daily_loss", title="Breaker again", impact="x", source="risk"
    )
    assert reopened.created and reopened.record.id != first.record.id


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_concurrent_open_or_attach_opens_one_incident(backend: str, request: pytest.FixtureRequest) -> None:
    factory: sessionmaker[Session] = request.getfixturevalue(
        "factory" if backend == "sqlite" else "pg_factory"
    )
    clock = TestClock(int(T0.timestamp() * 1000))
    opener = IncidentOpener(factory, clock=clock, sink=None)
    barrier = threading.Barrier(6)
    results: list[bool] = []
    errors: list[BaseException] = []

    def fire() -> None:
        try:
            barrier.wait()
            results.append(
                opener.open_or_attach(
                    cause_key="health.failing:/health",
                    title="Health failing",
                    impact="API down",
                    source="health",
                ).created
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [False] * 5 + [True]
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_format_duration() -> None:
    assert format_duration(timedelta(seconds=42)) == "42 s"
    assert format_duration(timedelta(minutes=15)) == "15 min"
    assert format_duration(timedelta(minutes=3, seconds=7)) == "3 min 07 s"
    assert format_duration(timedelta(hours=2, minutes=5, seconds=9)) == "2 h 05 min"
    assert format_duration(timedelta(seconds=-5)) == "0 s"
