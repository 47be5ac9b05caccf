"""The ops threads deliver an automatically opened incident's alert and its first pages."""

from __future__ import annotations

import time

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.ops.background import OpsWorkers, incident_opener
from smc_agent.ops.settings import OpsSettings

from .receivers import HttpReceiver


def test_workers_send_alert_and_pages(factory: sessionmaker[Session]) -> None:
    slack = HttpReceiver().start()
    try:
        settings = OpsSettings(slack_critical_webhook=SecretStr(f"{slack.url}/c"), notify_min_interval_s=0.05)
        outcome = incident_opener(factory, settings).open_or_attach(
            cause_key="health.failing:/health",
            title="/health failing",
            impact="API unreachable",
            source="health",
        )
        workers = OpsWorkers(factory, settings, notify_poll_s=0.02, escalation_poll_s=0.05)
        workers.start()
        try:
            deadline = time.monotonic() + 10
            while len(slack.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            workers.stop()
    finally:
        slack.stop()
    texts = [r.body["text"] for r in slack.received]
    assert texts[0].startswith("🚨 INCIDENT ALERT - P0") and outcome.record.id in texts[0]
    assert sorted(t.split()[2] for t in texts[1:]) == ["@oncall-devops", "@oncall-ic"]
