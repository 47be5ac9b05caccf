"""Fixtures for the real PostgreSQL and Redis servers.

Without the servers these tests skip with the reason; ``.ci/run`` sets ``SMC_REQUIRE_SERVICES=1``
which turns those skips into failures, so CI always runs them.

Isolation on a shared server: every test session gets its own PostgreSQL database (migrated, then
dropped), and Redis databases are leased in pairs (control db, session db) under a lock, so several
test runs on one machine never see each other's keys. ``playbook_redis`` leases exactly db 0 and
db 1, as the playbook's raw commands use them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get("SMC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_HOST = os.environ.get("SMC_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("SMC_TEST_REDIS_PORT", "6379"))
REQUIRE = os.environ.get("SMC_REQUIRE_SERVICES") == "1"


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} not reachable ({exc.__class__.__name__}: {exc})"
    if REQUIRE:
        pytest.fail(f"{message}; SMC_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(message)


def pg_database_url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def create_pg_database(name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return pg_database_url(name)


def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of a reachable PostgreSQL, or skip."""
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    name = f"smc_test_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name)
    yield url
    drop_pg_database(name)


@pytest.fixture
def migrated_pg_url(pg_url: str) -> str:
    from smc_agent.store import migrate

    migrate.upgrade(pg_url)
    return pg_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'smc_trading.db'}"


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str) -> str:
    from smc_agent.store import migrate

    migrate.upgrade(sqlite_url)
    return sqlite_url


@pytest.fixture(scope="session")
def redis_server() -> tuple[str, int]:
    try:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        _unavailable("Redis", exc)
    return REDIS_HOST, REDIS_PORT


def _lease(pair: tuple[int, int], timeout_s: float) -> Iterator[tuple[str, str]]:
    lock = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=15)
    name = f"smc-test-lease:{pair[0]}"
    token = uuid.uuid4().hex
    deadline = time.monotonic() + timeout_s
    while not lock.set(name, token, nx=True, ex=600):
        if time.monotonic() > deadline:
            pytest.fail(f"could not lease redis dbs {pair} within {timeout_s}s")
        time.sleep(0.05)
    try:
        for db in pair:
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()
        yield (f"redis://{REDIS_HOST}:{REDIS_PORT}/{pair[0]}", f"redis://{REDIS_HOST}:{REDIS_PORT}/{pair[1]}")
        for db in pair:
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()
    finally:
        if lock.get(name) == token.encode():
            lock.delete(name)
        lock.close()


@pytest.fixture
def redis_pair(redis_server: tuple[str, int]) -> Iterator[tuple[str, str]]:
    """(control-store URL, session-store URL) on two private Redis databases (from 2..13)."""
    for first in range(2, 14, 2):
        probe = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=15)
        free = probe.get(f"smc-test-lease:{first}") is None
        probe.close()
        if free:
            yield from _lease((first, first + 1), 60)
            return
    yield from _lease((2, 3), 120)


@pytest.fixture
def playbook_redis(redis_server: tuple[str, int]) -> Iterator[tuple[str, str]]:
    """Exactly db 0 (control store) and db 1 (sessions), as the playbook's commands use them."""
    yield from _lease((0, 1), 120)


@pytest.fixture(autouse=True, scope="session")
def _structured_logging() -> None:
    """Route structlog through the stdlib so ``caplog`` sees every line, as in production."""
    from smc_agent.logs import configure_logging

    configure_logging(level="INFO", fmt="json")
