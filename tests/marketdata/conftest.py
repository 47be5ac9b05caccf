"""A migrated SQLite database per test (the real schema, through Alembic)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.migrate import upgrade


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'smc_trading.db'}"
    upgrade(url)
    return url


@pytest.fixture
def session_factory(db_url: str) -> sessionmaker[Session]:
    engine = make_engine(db_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
