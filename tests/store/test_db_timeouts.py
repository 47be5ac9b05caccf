"""A PostgreSQL that makes the services wait (a table locked by a long transaction, a statement that
does not end) fails their statement in seconds, to be retried, instead of stalling them forever: the
execution engine writes each order's intent on its event loop, where a stall holds up every order,
cancel and halt behind it."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from tests.store.test_trading_repo import cmd

from smc_agent.bootstrap import Container
from smc_agent.core.enums import OrderStatus
from smc_agent.live.wiring import build_control
from smc_agent.settings import Settings
from smc_agent.store.db import make_engine


def _shown(engine: object, setting: str) -> str:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return str(conn.execute(text(f"SHOW {setting}")).scalar_one())


def test_an_order_intent_behind_a_locked_table_fails_in_seconds_and_goes_in_once_after(
    migrated_pg_url: str,
) -> None:
    _, repo = build_control(migrated_pg_url, None, statement_timeout_s=2.0)
    locker = make_engine(migrated_pg_url).connect()  # e.g. a forensic session left open in psql
    locker.execute(text("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"))
    # never leave the test hanging: the code without a lock timeout waited until this released it
    release = threading.Timer(20.0, locker.rollback)
    release.start()
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="timeout"):
            repo.record_intent(cmd("timeout-1"))
        assert time.monotonic() - started < 6.0
    finally:
        release.cancel()
        locker.rollback()
        locker.close()
    assert repo.record_intent(cmd("timeout-1"))  # retried after the lock is gone: written once
    assert not repo.record_intent(cmd("timeout-1"))
    stored = repo.get("timeout-1")
    assert stored is not None and stored.status == OrderStatus.INITIALIZED


def test_the_services_statement_timeout_comes_from_the_settings(migrated_pg_url: str) -> None:
    container = Container(Settings(database_url=migrated_pg_url, db_statement_timeout_s=1.0))
    try:
        assert _shown(container.engine, "statement_timeout") == "1s"
        assert _shown(container.engine, "lock_timeout") == "1s"  # never above the statement's
        started = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"), container.engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(10)"))
        assert time.monotonic() - started < 5.0
    finally:
        container.close()
    default = Container(Settings(database_url=migrated_pg_url))
    try:
        assert _shown(default.engine, "statement_timeout") == "15s"
        assert _shown(default.engine, "lock_timeout") == "5s"
    finally:
        default.close()


def test_migrations_and_backups_have_no_statement_timeout(migrated_pg_url: str) -> None:
    engine = make_engine(migrated_pg_url)  # what `db upgrade` builds: a long migration is not cut
    try:
        assert _shown(engine, "statement_timeout") == "0"
    finally:
        engine.dispose()


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_an_unusable_statement_timeout_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="db_statement_timeout_s"):
        Settings(db_statement_timeout_s=value)  # type: ignore[arg-type]
