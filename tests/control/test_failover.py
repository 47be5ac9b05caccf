"""Failover state shared across processes, reachable through the playbook's import path."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from smc_agent.bootstrap import Container
from smc_agent.settings import Settings
from smc_agent.store.db import transaction
from smc_agent.store.models import FailoverEvent, Position

PLAYBOOK_SNIPPET = """
from data_pipeline.exchange_connectors.failover_manager import FailoverManager
fm = FailoverManager()
fm.activate_failover('binance', 'bybit')
print('Failover activated: binance -> bybit')
"""


@pytest.mark.redis
def test_playbook_one_liner_switches_a_running_process(
    redis_pair: tuple[str, str], migrated_sqlite_url: str, tmp_path: Path
) -> None:
    running = Container(
        Settings(data_dir=tmp_path, database_url=migrated_sqlite_url, redis_url=redis_pair[0])
    )
    with transaction(running.session_factory) as s:
        s.add(
            Position(
                exchange="binance", symbol="BTC/USDT", quantity=Decimal("0.25"), average_price=Decimal(50000)
            )
        )
    assert running.failover.active_venue() == "binance"

    env = {
        **os.environ,
        "SMC_DATABASE_URL": migrated_sqlite_url,
        "SMC_REDIS_URL": redis_pair[0],
        "SMC_LOG_FORMAT": "json",
    }
    proc = subprocess.run(
        [sys.executable, "-c", PLAYBOOK_SNIPPET],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Failover activated: binance -> bybit" in proc.stdout
    assert "failover" in proc.stderr.lower()  # the structured log line operators grep for

    assert running.failover.active_venue() == "bybit"
    status = running.failover.status()
    assert status["failover_active"] and status["from_venue"] == "binance"
    assert status["stranded_positions"] == [
        {"exchange": "binance", "symbol": "BTC/USDT", "quantity": "0.25", "bot_id": None}
    ]
    with running.session_factory() as s:
        events = s.scalars(select(FailoverEvent)).all()
    assert [(e.action, e.from_venue, e.to_venue, e.actor) for e in events] == [
        ("activate", "binance", "bybit", "playbook")
    ]
    running.failover.deactivate_failover(reason="binance healthy again", actor="ops")
    assert running.failover.active_venue() == "binance"
    running.close()


def test_failover_refuses_unknown_venues(migrated_sqlite_url: str) -> None:
    c = Container(Settings(database_url=migrated_sqlite_url))
    with pytest.raises(ValueError, match="unknown venue 'kraken'"):
        c.failover.activate_failover("binance", "kraken")
    with pytest.raises(ValueError, match="two different venues"):
        c.failover.activate_failover("bybit", "bybit")
    assert c.failover.active_venue() == "binance"
