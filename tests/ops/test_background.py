"""The ops threads: a halt latched elsewhere opens an incident, its alert and first pages go out."""

from __future__ import annotations

import time

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.control.failover import FailoverManager
from smc_agent.control.trading import TradingControl
from smc_agent.ops.background import OpsWorkers, incident_opener
from smc_agent.ops.settings import OpsSettings
from smc_agent.ops.watchers import ControlWatcher
from smc_agent.store.control_repo import DbControlJournal, DbKeyValueStore

from .receivers import HttpReceiver


def test_workers_open_alert_and_page(factory: sessionmaker[Session]) -> None:
    slack = HttpReceiver().start()
    try:
        settings = OpsSettings(slack_critical_webhook=SecretStr(f"{slack.url}/c"), notify_min_interval_s=0.05)
        kv, journal = DbKeyValueStore(factory), DbControlJournal(factory)
        trading = TradingControl(kv=kv, journal=journal)
        watcher = ControlWatcher(
            incident_opener(factory, settings),
            trading=trading,
            failover=FailoverManager(kv=kv, journal=journal),
        )
        workers = OpsWorkers(
            factory, settings, notify_poll_s=0.02, escalation_poll_s=0.05, watcher=watcher, watch_poll_s=0.05
        )
        workers.start()
        try:
            fault = time.monotonic()
            trading.halt(reason="game day", actor="tester", source="test")
            deadline = fault + 10
            while not slack.received and time.monotonic() < deadline:
                time.sleep(0.005)
            alert_s = time.monotonic() - fault
            while len(slack.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            workers.stop()
    finally:
        slack.stop()
    texts = [r.body["text"] for r in slack.received]
    assert texts[0].startswith("🚨 INCIDENT ALERT - P0") and "game day" in texts[0]
    assert sorted(t.split()[2] for t in texts[1:]) == ["@oncall-devops", "@oncall-ic"]
    assert alert_s < 5, f"fault to alert took {alert_s:.2f} s"
    print(f"fault to alert: {alert_s * 1000:.0f} ms")
