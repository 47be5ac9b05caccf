"""401/403/429 from the API's access log: one JSON object per line with at least ``status`` and a
``timestamp`` (ISO 8601, as structlog writes it), plus method, path, latency_ms, user or user_id,
client_ip. Lines of other loggers in the same stream (``logger`` != ``smc_agent.api.access``) are ignored.

The playbook greps ``(401|403|429)`` and keeps the last 50 lines; this reads the same lines
structurally, keeps the last ``limit`` in the window and summarises them by status, client and user.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smc_agent.ops.forensics.queries import Window

SUSPICIOUS = frozenset({401, 403, 429})
ACCESS_LOGGER = "smc_agent.api.access"  # structlog logger name of the API's access log


@dataclass
class AccessLogReport:
    entries: list[dict[str, Any]] = field(default_factory=list)
    by_status: Counter[int] = field(default_factory=Counter)
    by_client: Counter[str] = field(default_factory=Counter)
    by_user: Counter[str] = field(default_factory=Counter)
    unreadable_lines: int = 0
    undated_lines: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "by_status": dict(self.by_status),
            "by_client_ip": dict(self.by_client.most_common(20)),
            "by_user": dict(self.by_user.most_common(20)),
            "unreadable_lines": self.unreadable_lines,
            "undated_lines": self.undated_lines,
        }


def _lines(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"no access log at {path} (set SMC_API_ACCESS_LOG or pass --log)")
        with path.open(encoding="utf-8", errors="replace") as fh:
            yield from fh


def _when(entry: dict[str, Any]) -> datetime | None:
    raw = entry.get("timestamp") or entry.get("time") or entry.get("ts")
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def api_errors(
    paths: Iterable[Path], window: Window, *, limit: int = 50, statuses: frozenset[int] = SUSPICIOUS
) -> AccessLogReport:
    report = AccessLogReport()
    matched: list[dict[str, Any]] = []
    for line in _lines(paths):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            report.unreadable_lines += 1
            continue
        if not isinstance(entry, dict) or entry.get("logger", ACCESS_LOGGER) != ACCESS_LOGGER:
            continue  # another component's log line in the same stream
        try:
            status = int(entry["status"])
        except (KeyError, TypeError, ValueError):
            continue
        if status not in statuses:
            continue
        when = _when(entry)
        if when is None:
            report.undated_lines += 1
            continue
        if not window.start < when <= window.now:
            continue
        matched.append(entry)
        report.by_status[status] += 1
        report.by_client[str(entry.get("client_ip"))] += 1
        report.by_user[str(entry.get("user") or entry.get("user_id") or "-")] += 1
    report.entries = matched[-limit:]
    return report
