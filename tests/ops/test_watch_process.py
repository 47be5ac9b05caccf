"""``smc-agent incident watch`` as its own process: another process halts trading and fails over;
the watcher process opens the incidents and Slack receives the alerts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from smc_agent.control.failover import FailoverManager
from smc_agent.control.trading import TradingControl
from smc_agent.store.control_repo import DbControlJournal, DbKeyValueStore

from .receivers import HttpReceiver

LAUNCH = "import sys; from smc_agent.cli.incident import app; app(['watch', '--poll', '0.1'])"


def _wait(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("timed out")
        time.sleep(0.01)
    return time.monotonic() - start


def test_watch_process_alerts_on_halt_and_failover(
    factory: sessionmaker[Session], migrated_sqlite_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    slack = HttpReceiver().start()
    env = {
        **os.environ,
        "SMC_DATABASE_URL": migrated_sqlite_url,
        "SMC_DATA_DIR": str(tmp_path),
        "SMC_SLACK_CRITICAL_WEBHOOK": f"{slack.url}/critical",
        "SMC_NOTIFY_MIN_INTERVAL_S": "0.1",
    }
    env.pop("SMC_REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait(lambda: proc.stdout is not None and "running" in proc.stdout.readline(), 60)
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        kv, journal = DbKeyValueStore(factory), DbControlJournal(factory)
        TradingControl(kv=kv, journal=journal).halt(
            reason="game day: binance down", actor="gm", source="test"
        )
        halt_to_alert = _wait(lambda: any("INCIDENT ALERT" in r.body["text"] for r in slack.received), 15)
        FailoverManager(kv=kv, journal=journal).activate_failover("binance", "bybit", reason="binance down")
        _wait(lambda: any("Venue failover binance -> bybit" in r.body["text"] for r in slack.received), 15)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
        slack.stop()
    alerts = [r.body["text"] for r in slack.received if "INCIDENT ALERT" in r.body["text"]]
    assert alerts[0].startswith("🚨 INCIDENT ALERT - P0") and "game day: binance down" in alerts[0]
    assert alerts[1].startswith("🚨 INCIDENT ALERT - P1")
    assert len(alerts) == 2  # each cause opened once however often the watcher looked
    print(f"halt to alert across processes: {halt_to_alert * 1000:.0f} ms")
