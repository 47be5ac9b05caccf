"""Fixtures of the ops tests: a migrated database with a session factory, a test clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.clock import TestClock
from smc_agent.store.db import make_engine, make_session_factory

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


@pytest.fixture
def clock() -> TestClock:
    return TestClock(T0_MS)


@pytest.fixture
def factory(migrated_sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def pg_factory(migrated_pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_pg_url)
    yield make_session_factory(engine)
    engine.dispose()
