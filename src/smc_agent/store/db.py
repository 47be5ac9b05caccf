"""Engine and session factory for SQLite (embedded default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.errors import ConfigError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, echo: bool = False, statement_timeout_s: float | None = None) -> Engine:
    """Create an engine; for SQLite, create the parent directory and turn on foreign keys and WAL.
    A URL SQLAlchemy cannot use (unknown dialect, no driver installed) is a :class:`ConfigError`.

    PostgreSQL: a server that does not answer fails the connection in 5 s and an unanswered
    connection in :data:`UNANSWERED_S` (TCP keepalives, TCP user timeout) instead of hanging the
    caller forever. ``statement_timeout_s`` (the services give theirs; None for migrations and
    backups) bounds each statement, and a lock wait to at most :data:`LOCK_WAIT_S`: the execution
    engine's writes run on its event loop, and a database that makes them wait would otherwise stall
    every order, cancel and halt behind them; an error is retried like a database that is down."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, echo=echo, connect_args={"timeout": 10})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        postgres = parsed.get_backend_name() == "postgresql"
        engine = create_engine(
            url,
            echo=echo,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            connect_args=_pg_connect_args(parsed.get_driver_name()) if postgres else {},
        )
        if statement_timeout_s is not None and postgres:
            _bound_statements(engine, statement_timeout_s)
        return engine
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"database URL {_shown(url)} cannot be used: {exc}") from None


CONNECT_TIMEOUT_S = 5
UNANSWERED_S = 15  # a connection the server stopped answering (no acks, no keepalive replies)
LOCK_WAIT_S = 5.0
# libpq's own settings: the client gives up, whatever sits between it and the server
_PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": UNANSWERED_S * 1000,
}


def _pg_connect_args(driver: str) -> dict[str, Any]:
    """psycopg 3 prepares a statement server-side once it ran 5 times on a connection: behind
    PgBouncer's transaction pooling (deploy/k8s) the next transaction may run on another server
    connection, where it does not exist ("prepared statement _pg3_3 does not exist"). Never prepare."""
    if driver == "psycopg":
        return {**_PG_CONNECT_ARGS, "prepare_threshold": None}
    return dict(_PG_CONNECT_ARGS)


def _bound_statements(engine: Engine, statement_timeout_s: float) -> None:
    """Every transaction on ``engine`` starts by bounding its statements and lock waits. Set per
    transaction (``SET LOCAL``): a session setting or a startup option would be refused by or leak
    through PgBouncer's transaction pooling (deploy/k8s), where each transaction may run on another
    server connection."""
    if not statement_timeout_s > 0:
        raise ConfigError(f"statement timeout must be positive, not {statement_timeout_s}")
    statement_ms = round(statement_timeout_s * 1000)
    lock_ms = min(statement_ms, round(LOCK_WAIT_S * 1000))
    bound = (
        f"SELECT set_config('statement_timeout', '{statement_ms}', true), "
        f"set_config('lock_timeout', '{lock_ms}', true)"
    )

    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(bound)

    event.listen(engine, "begin", on_begin)


def _shown(url: str) -> str:
    """``url`` without its password (a URL that does not parse: its scheme only)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("://", 1)[0] + "://..."


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The caller owns the transaction: commit on success, roll back on error."""
    with factory() as session, session.begin():
        yield session


def database_error(exc: DBAPIError) -> str:
    """The driver's first line of ``exc`` (psycopg's "connection failed: ...", SQLite's "no such
    table: users"): what an operator is told, without the statement and its parameters."""
    text = str(exc.orig).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__
