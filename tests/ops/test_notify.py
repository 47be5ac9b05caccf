"""Notifications end to end: incident -> outbox -> real loopback HTTP and SMTP receivers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.clock import TestClock
from smc_agent.ops.incidents.priority import EventKind, Priority, Status
from smc_agent.ops.incidents.service import IncidentService, ms_to_dt
from smc_agent.ops.notify.dispatcher import OutboxDispatcher, requeue_dead
from smc_agent.ops.notify.provider import parse_retry_after
from smc_agent.ops.notify.router import NotificationRouter, build_providers
from smc_agent.ops.settings import OpsSettings
from smc_agent.store.db import transaction
from smc_agent.store.models import NotificationOutbox

from .conftest import T0
from .receivers import HttpReceiver, SmtpReceiver


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(default_json={"id": "sp-inc-1"}).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


def _settings(http: HttpReceiver, smtp: SmtpReceiver | None = None, **kw: object) -> OpsSettings:
    values: dict[str, object] = {
        "slack_critical_webhook": SecretStr(f"{http.url}/slack/critical"),
        "slack_security_webhook": SecretStr(f"{http.url}/slack/security"),
        "statuspage_page_id": "page123",
        "statuspage_token": SecretStr("sp-token"),
        "statuspage_api_url": f"{http.url}/v1",
        "webhook_url": SecretStr(f"{http.url}/hook"),
        "war_room": "#inc-war-room",
    }
    if smtp is not None:
        values |= {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_starttls": False,
            "smtp_to": ["oncall@example.test"],
            "smtp_security_to": ["security@example.test"],
        }
    values.update(kw)
    return OpsSettings(**values)  # type: ignore[arg-type]


def _drain(dispatcher: OutboxDispatcher, clock: TestClock, rounds: int = 10) -> None:
    for _ in range(rounds):
        dispatcher.dispatch_once()
        clock.advance(1000)


def _by_path(http: HttpReceiver, path: str) -> list[dict]:
    return [r.body for r in http.received if r.path == path]


def test_incident_messages_reach_every_channel_exactly_once(
    factory: sessionmaker[Session], clock: TestClock, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    settings = _settings(http, smtp)
    router = NotificationRouter(settings)
    with transaction(factory) as s:
        inc = (
            IncidentService(s, clock=clock, sink=router)
            .open(
                priority=Priority.P0,
                title="System outage",
                impact="No orders are being placed",
                actor="alice",
                source="cli",
                commander="alice",
                actions=["Trading halted"],
            )
            .id
        )
    clock.advance(60_000)
    with transaction(factory) as s:
        IncidentService(s, clock=clock, sink=router).update(
            inc,
            status=Status.IDENTIFIED,
            note="Binance API unreachable",
            actor="alice",
            source="cli",
            eta="30 min",
        )
    clock.advance(60_000)
    with transaction(factory) as s:
        IncidentService(s, clock=clock, sink=router).resolve(
            inc,
            root_cause="Venue outage",
            resolution="Failed over to Bybit",
            data_lost=False,
            actor="alice",
            source="cli",
        )
    dispatcher = OutboxDispatcher(factory, build_providers(settings, clock=clock), clock=clock)
    try:
        _drain(dispatcher, clock)
    finally:
        dispatcher.close()

    slack = _by_path(http, "/slack/critical")
    assert [m["text"].splitlines()[0] for m in slack] == [
        "🚨 INCIDENT ALERT - P0",
        "📊 INCIDENT UPDATE - P0",
        "✅ INCIDENT RESOLVED - P0",
    ]
    assert f"**Incident ID**: {inc}" in slack[0]["text"] and "**War Room**: #inc-war-room" in slack[0]["text"]
    assert "**Data Lost**: No data was lost" in slack[2]["text"]
    assert _by_path(http, "/slack/security") == []

    sp = [r for r in http.received if r.path.startswith("/v1/")]
    assert [(r.method, r.path) for r in sp] == [
        ("POST", "/v1/pages/page123/incidents"),
        ("PATCH", "/v1/pages/page123/incidents/sp-inc-1"),
        ("PATCH", "/v1/pages/page123/incidents/sp-inc-1"),
    ]
    assert sp[0].headers["Authorization"] == "OAuth sp-token"
    assert sp[0].body == {
        "incident": {
            "name": "System outage",
            "status": "investigating",
            "impact_override": "critical",
            "body": "No orders are being placed. System outage",
        }
    }
    assert sp[1].body["incident"]["status"] == "identified"
    assert sp[2].body["incident"] == {
        "status": "resolved",
        "impact_override": "critical",
        "body": "Failed over to Bybit No data was lost.",
    }

    hooks = _by_path(http, "/hook")
    assert [h["kind"] for h in hooks] == ["initial", "update", "resolution"]
    assert len({h["id"] for h in hooks}) == 3

    assert len(smtp.messages) == 3
    rcpt, first = smtp.messages[0]
    assert rcpt == ["oncall@example.test"]
    assert first["Subject"] == f"[P0] INCIDENT ALERT {inc}: System outage"
    assert "**Impact**: No orders are being placed" in first.get_payload(decode=True).decode()

    with transaction(factory) as s:
        rows = s.scalars(select(NotificationOutbox)).all()
        assert {r.status for r in rows} == {"sent"}
        record = IncidentService(s, clock=clock).get(inc)
    notified = record.events_of(EventKind.NOTIFIED)
    assert len(notified) == 12  # 3 messages x 4 channels
    assert {e.payload["ref"] for e in notified if e.source == "statuspage"} == {"sp-inc-1"}


def test_at_most_one_message_per_second_per_channel(
    factory: sessionmaker[Session], clock: TestClock, http: HttpReceiver
) -> None:
    settings = _settings(http, statuspage_page_id=None, webhook_url=None)
    router = NotificationRouter(settings)
    with transaction(factory) as s:
        svc = IncidentService(s, clock=clock, sink=router)
        ids = [
            svc.open(priority=Priority.P1, title=f"t{i}", impact="i", actor="a", source="cli").id
            for i in range(3)
        ]
    dispatcher = OutboxDispatcher(factory, build_providers(settings, clock=clock), clock=clock)
    try:
        dispatcher.dispatch_once()
        dispatcher.dispatch_once()
        clock.advance(999)
        dispatcher.dispatch_once()
        assert len(http.received) == 1
        clock.advance(1)
        dispatcher.dispatch_once()
        assert len(http.received) == 2
        clock.advance(1000)
        dispatcher.dispatch_once()
    finally:
        dispatcher.close()
    assert [f"**Incident ID**: {i}" in r.body["text"] for r, i in zip(http.received, ids, strict=True)] == [
        True
    ] * 3


def test_provider_down_then_back_loses_nothing_and_duplicates_nothing(
    factory: sessionmaker[Session], clock: TestClock
) -> None:
    receiver = HttpReceiver().start()
    port = receiver.port
    receiver.stop()  # the provider is down: connection refused
    settings = OpsSettings(slack_critical_webhook=SecretStr(f"http://127.0.0.1:{port}/slack"))
    router = NotificationRouter(settings)
    with transaction(factory) as s:
        svc = IncidentService(s, clock=clock, sink=router)
        inc = svc.open(priority=Priority.P0, title="Outage", impact="All down", actor="a", source="cli").id
        svc.update(inc, status=Status.IDENTIFIED, note="found it", actor="a", source="cli")
    dispatcher = OutboxDispatcher(factory, build_providers(settings, clock=clock), clock=clock)
    try:
        delays = []
        for _ in range(4):
            report = dispatcher.dispatch_once()
            assert len(report.retried) == 1 and not report.sent
            with transaction(factory) as s:
                head = s.scalars(select(NotificationOutbox).order_by(NotificationOutbox.created_at)).first()
                assert (
                    head is not None
                    and head.status == "pending"
                    and "ConnectError" in (head.last_error or "")
                )
                delays.append((head.next_attempt_at - ms_to_dt(clock.timestamp_ms())).total_seconds())
            clock.advance(int(delays[-1] * 1000))
        assert delays == [1.0, 2.0, 4.0, 8.0]  # exponential backoff
        back = HttpReceiver(port=port).start()  # the provider comes back on the same address
        try:
            _drain(dispatcher, clock, rounds=5)
        finally:
            back.stop()
    finally:
        dispatcher.close()
    texts = [r.body["text"].splitlines()[0] for r in back.received]
    assert texts == ["🚨 INCIDENT ALERT - P0", "📊 INCIDENT UPDATE - P0"]


def test_429_retry_after_is_honoured(
    factory: sessionmaker[Session], clock: TestClock, http: HttpReceiver
) -> None:
    http.script.append((429, {"Retry-After": "7"}))
    settings = OpsSettings(webhook_url=SecretStr(f"{http.url}/hook"))
    with transaction(factory) as s:
        IncidentService(s, clock=clock, sink=NotificationRouter(settings)).open(
            priority=Priority.P2, title="Slow API", impact="p99 2 s", actor="a", source="cli"
        )
    dispatcher = OutboxDispatcher(factory, build_providers(settings, clock=clock), clock=clock)
    try:
        assert dispatcher.dispatch_once().retried
        clock.advance(6_999)
        assert dispatcher.dispatch_once().attempted == 0
        assert len(http.received) == 1
        clock.advance(1)
        assert dispatcher.dispatch_once().sent
    finally:
        dispatcher.close()
    assert len(http.received) == 2
    assert http.received[0].headers["Idempotency-Key"] == http.received[1].headers["Idempotency-Key"]


def test_permanent_refusal_is_a_dead_letter_that_can_be_requeued(
    factory: sessionmaker[Session], clock: TestClock, http: HttpReceiver
) -> None:
    http.script.append((404, {}))
    settings = OpsSettings(slack_critical_webhook=SecretStr(f"{http.url}/slack"))
    with transaction(factory) as s:
        IncidentService(s, clock=clock, sink=NotificationRouter(settings)).open(
            priority=Priority.P1, title="DB slow", impact="orders delayed", actor="a", source="cli"
        )
    dispatcher = OutboxDispatcher(factory, build_providers(settings, clock=clock), clock=clock)
    try:
        assert dispatcher.dispatch_once().dead
        clock.advance(5000)
        assert dispatcher.dispatch_once().attempted == 0
        assert requeue_dead(factory, now=T0) == 1
        assert dispatcher.dispatch_once().sent
    finally:
        dispatcher.close()
    assert len(http.received) == 2


def test_security_incidents_go_to_the_security_channels_not_the_status_page(
    factory: sessionmaker[Session], clock: TestClock, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    settings = _settings(http, smtp, webhook_url=None)
    with transaction(factory) as s:
        IncidentService(s, clock=clock, sink=NotificationRouter(settings)).open(
            priority=Priority.P0,
            title="Potential breach",
            impact="All systems isolated",
            actor="a",
            source="cli",
            category="security",
        )
    dispatcher = OutboxDispatcher(factory, build_providers(settings, clock=clock), clock=clock)
    try:
        _drain(dispatcher, clock, rounds=2)
    finally:
        dispatcher.close()
    assert [r.path for r in http.received] == ["/slack/security"]
    assert [rcpt for rcpt, _ in smtp.messages] == [["security@example.test"]]


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12", now_ms=0) == 12.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now_ms=10_000) == 20.0
    assert parse_retry_after("soon", now_ms=0) is None
    assert parse_retry_after(None, now_ms=0) is None


def test_rate_limit_holds_across_two_dispatchers(
    factory: sessionmaker[Session], clock: TestClock, http: HttpReceiver
) -> None:
    settings = OpsSettings(webhook_url=SecretStr(f"{http.url}/hook"))
    with transaction(factory) as s:
        svc = IncidentService(s, clock=clock, sink=NotificationRouter(settings))
        for i in range(3):
            svc.open(priority=Priority.P3, title=f"t{i}", impact="i", actor="a", source="cli")
    first = OutboxDispatcher(factory, build_providers(settings, clock=clock), clock=clock)
    second = OutboxDispatcher(factory, build_providers(settings, clock=clock), clock=clock)  # another process
    try:
        assert len(second.dispatch_once().sent) == 1
        clock.advance(1000)
        assert len(first.dispatch_once().sent) == 1
        clock.advance(500)  # second's own last send is 1.5 s old, but the channel's is 0.5 s
        assert second.dispatch_once().attempted == 0
        clock.advance(500)
        assert len(second.dispatch_once().sent) == 1
    finally:
        first.close()
        second.close()
    assert len(http.received) == 3
