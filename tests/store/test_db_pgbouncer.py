"""Behind PgBouncer in transaction pooling mode (deploy/k8s: edoburu/pgbouncer 1.22.1 without
MAX_PREPARED_STATEMENTS) a server-side prepared statement is gone at the next transaction, which may
run on another server connection: psycopg 3 prepared every statement run 5 times on a connection and
then failed with "prepared statement _pg3_3 does not exist"."""

from __future__ import annotations

from sqlalchemy import text

from smc_agent.store.db import make_engine


def test_postgres_connections_never_prepare_statements(pg_url: str) -> None:
    for timeout in (None, 15.0):  # migrations and backups, and the services
        engine = make_engine(pg_url, statement_timeout_s=timeout)
        try:
            with engine.connect() as conn:
                assert conn.connection.driver_connection.prepare_threshold is None  # type: ignore[union-attr]
                for _ in range(10):
                    conn.execute(text("SELECT count(*) FROM pg_class WHERE relname = :n"), {"n": "x"})
                prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
                assert prepared == 0
        finally:
            engine.dispose()
