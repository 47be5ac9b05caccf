"""Automatic incidents from the control plane and /health, de-duplicated per cause."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from smc_agent.control.failover import FailoverManager
from smc_agent.control.trading import TradingControl
from smc_agent.core.clock import TestClock
from smc_agent.ops.incidents.auto import IncidentOpener
from smc_agent.ops.incidents.priority import EventKind, Priority
from smc_agent.ops.incidents.service import IncidentService
from smc_agent.ops.watchers import ControlWatcher
from smc_agent.store.control_repo import DbControlJournal, DbKeyValueStore
from smc_agent.store.db import transaction

from .receivers import HttpReceiver


def _control(factory: sessionmaker[Session]) -> tuple[TradingControl, FailoverManager]:
    kv, journal = DbKeyValueStore(factory), DbControlJournal(factory)
    return TradingControl(kv=kv, journal=journal), FailoverManager(kv=kv, journal=journal)


def test_halt_and_failover_open_one_incident_each(factory: sessionmaker[Session], clock: TestClock) -> None:
    trading, failover = _control(factory)
    watcher = ControlWatcher(
        IncidentOpener(factory, clock=clock, sink=None), trading=trading, failover=failover
    )
    assert watcher.tick() == []
    trading.halt(reason="daily loss limit", actor="risk", source="breaker")
    first = watcher.tick()
    assert [(o.created, o.record.priority) for o in first] == [(True, Priority.P0)]
    assert "daily loss limit" in first[0].record.actions[0].message
    clock.advance(1000)
    assert [o.created for o in watcher.tick()] == [False]
    failover.activate_failover("binance", "bybit", reason="binance down", actor="ops")
    outcomes = watcher.tick()
    assert [(o.created, o.record.priority, o.record.title) for o in outcomes] == [
        (False, Priority.P0, "Trading halted: emergency halt latched"),
        (True, Priority.P1, "Venue failover binance -> bybit"),
    ]
    with transaction(factory) as s:
        assert len(IncidentService(s, clock=clock).list_incidents()) == 2


def test_health_failing_three_times_opens_a_p0(factory: sessionmaker[Session], clock: TestClock) -> None:
    api = HttpReceiver().start()
    try:
        api.script.extend([(503, {}), (503, {}), (200, {}), (503, {}), (503, {}), (503, {})])
        trading, failover = _control(factory)
        watcher = ControlWatcher(
            IncidentOpener(factory, clock=clock, sink=None),
            trading=trading,
            failover=failover,
            health_url=f"{api.url}/health",
        )
        opened = [watcher.tick() for _ in range(6)]
        watcher.close()
    finally:
        api.stop()
    assert [len(o) for o in opened] == [0, 0, 0, 0, 0, 1]  # a success resets the count
    record = opened[-1][0].record
    assert record.priority is Priority.P0 and record.cause_key == f"health.failing:{api.url}/health"
    assert record.events[0].kind is EventKind.OPENED


def test_venue_down_then_failover_is_one_incident(factory: sessionmaker[Session], clock: TestClock) -> None:
    """The probe opens 'binance unreachable'; the failover that follows attaches to it (and the probe
    failing on after the failover keeps attaching to it), instead of a second P1 for one outage."""
    venue = HttpReceiver().start()
    try:
        venue.script.extend([(503, {})] * 10)
        trading, failover = _control(factory)
        watcher = ControlWatcher(
            IncidentOpener(factory, clock=clock, sink=None),
            trading=trading,
            failover=failover,
            venue_probes={"binance": f"{venue.url}/api/v3/ping"},
        )
        opened = [watcher.tick() for _ in range(3)]
        assert [(o.created, o.record.title) for o in opened[-1]] == [
            (True, "Exchange API failure: binance unreachable")
        ]
        failover.activate_failover("binance", "bybit", reason="binance down", actor="ops")
        clock.advance(1000)
        after = watcher.tick()
        watcher.close()
    finally:
        venue.stop()
    assert [o.created for o in after] == [False, False]  # the failover and the probe: both attached
    assert {o.record.id for o in after} == {opened[-1][0].record.id}
    with transaction(factory) as s:
        incidents = IncidentService(s, clock=clock).list_incidents()
    assert len(incidents) == 1
    shown = after[0].record
    assert any("failover activated by ops" in a.message for a in shown.actions)
