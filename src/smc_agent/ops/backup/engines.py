"""Dump and restore per backend.

PostgreSQL: ``pg_dump -F c`` inside an exported snapshot (``pg_export_snapshot``), so the dump and
the table fingerprints describe exactly the same instant while writers keep writing. Connection
parameters go to libpq through ``PG*`` environment variables: no password on a command line.
SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent image while
writers continue; fingerprints are taken from the copy.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.engine import URL

from smc_agent.ops.backup.fingerprint import TableFingerprint, fingerprint


class BackupError(RuntimeError):
    pass


def backend_of(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("postgresql", "sqlite"):
        raise BackupError(f"backups support postgresql and sqlite, not {name!r}")
    return name


def _pg_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[key] = str(value)
    return env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    binary = shutil.which(args[0])
    if binary is None:
        raise BackupError(f"{args[0]} not found on PATH (install the PostgreSQL client tools)")
    proc = subprocess.run([binary, *args[1:]], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed ({args[0]} exit {proc.returncode}): {proc.stderr.strip()[:800]}")


# ---------------------------------------------------------------------------- PostgreSQL
def pg_dump(url: str, out: Path) -> tuple[dict[str, TableFingerprint], str | None]:
    """Dump (custom format) and fingerprint the same snapshot; also returns the schema revision."""
    parsed = make_url(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            _run(
                [
                    "pg_dump",
                    "-F",
                    "c",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    "-f",
                    str(out),
                ],
                _pg_env(parsed),
                "pg_dump",
            )
            tables = fingerprint(conn)
            revision = _revision(conn, tables)
            conn.rollback()
    finally:
        engine.dispose()
    return tables, revision


def _revision(conn: Connection, tables: dict[str, TableFingerprint]) -> str | None:
    if "alembic_version" not in tables:
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def pg_restore(url: str, dump: Path) -> None:
    """Replace the database's objects by the dump's, in one transaction."""
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "-d",
            make_url(url).database or "",
            str(dump),
        ],
        _pg_env(make_url(url)),
        "pg_restore",
    )


@contextmanager
def pg_scratch_database(url: str) -> Iterator[str]:
    """A new empty database on the same server, dropped afterwards."""
    parsed = make_url(url)
    name = f"smc_verify_{uuid.uuid4().hex[:12]}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield parsed.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def pg_fingerprint(url: str) -> dict[str, TableFingerprint]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return fingerprint(conn)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- SQLite
def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database).expanduser()


def sqlite_dump(url: str, out: Path) -> tuple[dict[str, TableFingerprint], str | None]:
    source = sqlite_path(url)
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(out)
    try:
        src.backup(dst, pages=1024)
    finally:
        dst.close()
        src.close()
    engine = create_engine(f"sqlite:///{out}")
    try:
        with engine.connect() as conn:
            tables = fingerprint(conn)
            return tables, _revision(conn, tables)
    finally:
        engine.dispose()


def sqlite_fingerprint(path: Path) -> dict[str, TableFingerprint]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            check = conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()
            if check != "ok":
                raise BackupError(f"SQLite integrity check failed: {check}")
            return fingerprint(conn)
    finally:
        engine.dispose()


def sqlite_restore(url: str, image: Path) -> None:
    """Copy the image over the live database through the backup API (writers wait on its lock)."""
    target = sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(image)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def describe(url: str) -> dict[str, Any]:
    """Where the database is, without credentials."""
    parsed = make_url(url)
    return {"backend": backend_of(url), "host": parsed.host, "port": parsed.port, "database": parsed.database}
