"""Per-table row counts and checksums, to prove that a restore holds exactly what was backed up.

A checksum is the SHA-256 of the table's rows in primary-key order, each row serialised as JSON.
Both sides of a comparison are read through the same backend, so values compare exactly.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, MetaData, Table, select

TableFingerprint = dict[str, Any]  # {"rows": int, "sha256": str}


def _ordered(table: Table) -> list[Any]:
    keys = list(table.primary_key.columns) or list(table.columns)
    return [c for c in keys]


def table_fingerprint(conn: Connection, table: Table) -> TableFingerprint:
    digest = hashlib.sha256()
    rows = 0
    result = conn.execution_options(stream_results=True).execute(select(table).order_by(*_ordered(table)))
    for row in result:
        digest.update(json.dumps(list(row), default=str, sort_keys=True).encode())
        digest.update(b"\n")
        rows += 1
    return {"rows": rows, "sha256": digest.hexdigest()}


def fingerprint(conn: Connection) -> dict[str, TableFingerprint]:
    """Every table of the connected database (reflected, so it needs no model code)."""
    meta = MetaData()
    meta.reflect(bind=conn)
    return {name: table_fingerprint(conn, meta.tables[name]) for name in sorted(meta.tables)}


def compare(expected: dict[str, TableFingerprint], actual: dict[str, TableFingerprint]) -> list[str]:
    """Differences, one line each; empty when identical."""
    problems = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None:
            problems.append(f"{name}: unexpected table in the restore")
        elif got is None:
            problems.append(f"{name}: missing from the restore")
        elif want["rows"] != got["rows"]:
            problems.append(f"{name}: {got['rows']} rows restored, {want['rows']} backed up")
        elif want["sha256"] != got["sha256"]:
            problems.append(f"{name}: checksum differs (same {got['rows']} rows, different content)")
    return problems
