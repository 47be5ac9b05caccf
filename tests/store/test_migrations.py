"""Migrations go up and down on SQLite and PostgreSQL, and agree with the models (alembic check)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from smc_agent.store import migrate
from smc_agent.store.db import make_engine
from smc_agent.store.models import Base

EXPECTED_TABLES = {
    "users",
    "user_sessions",
    "api_keys",
    "exchange_accounts",
    "bots",
    "orders",
    "trades",
    "positions",
    "signals",
    "candles",
    "trading_state_events",
    "failover_events",
    "incidents",
    "incident_events",
    "audit_log",
    "control_state",
}


def _round_trip(url: str) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert tables >= EXPECTED_TABLES
        assert migrate.current_revision(engine) == migrate.head_revision(url)
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models and migrations disagree: {diff}"
        migrate.downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(url)
        assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
    finally:
        engine.dispose()


def test_sqlite_up_down_and_models_agree(sqlite_url: str) -> None:
    _round_trip(sqlite_url)


@pytest.mark.postgres
def test_postgres_up_down_and_models_agree(pg_url: str) -> None:
    _round_trip(pg_url)


def test_every_migration_step_downgrades(sqlite_url: str) -> None:
    """Each revision's downgrade undoes exactly its upgrade (walk the chain one step at a time)."""
    migrate.upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        while migrate.current_revision(engine) is not None:
            migrate.downgrade(sqlite_url, "-1")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
