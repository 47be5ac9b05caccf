"""Evidence capture, taken *before* anything is restarted (playbook, "Preserve Evidence").

A bundle is a directory ``incident-<UTC %Y%m%d_%H%M%S>[-<incident id>]`` holding JSON sections
(system state, configuration without secrets, open connections, processes, database activity),
the tails of the service logs, and ``SHA256SUMS`` (``sha256sum -c`` format) over every file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import struct
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


def redact_url(url: str | None) -> str | None:
    """Drop the password from a URL (``postgresql+psycopg://user:***@host/db``)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _hex_addr(value: str) -> str:
    address, port = value.split(":")
    raw = bytes.fromhex(address)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(address, 16)))
    else:
        words = struct.unpack("<4I", raw)
        ip = socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))
    return f"{ip}:{int(port, 16)}"


def proc_net_tcp(root: Path = Path("/proc/net")) -> list[dict[str, Any]]:
    """Parse ``/proc/net/tcp`` and ``tcp6`` (what ``netstat -tn`` reads)."""
    found = []
    for name in ("tcp", "tcp6"):
        path = root / name
        if not path.is_file():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10:
                continue
            found.append(
                {
                    "proto": name,
                    "local": _hex_addr(fields[1]),
                    "remote": _hex_addr(fields[2]),
                    "state": TCP_STATES.get(fields[3], fields[3]),
                    "uid": int(fields[7]),
                    "inode": int(fields[9]),
                }
            )
    return found


def open_connections() -> dict[str, Any]:
    try:
        import psutil
    except ImportError:
        return {"source": "/proc/net/tcp", "connections": proc_net_tcp()}
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return {"source": "/proc/net/tcp", "connections": proc_net_tcp()}
    rows = []
    for c in conns:
        rows.append(
            {
                "proto": "tcp" if c.type == socket.SOCK_STREAM else "udp",
                "local": f"{c.laddr.ip}:{c.laddr.port}" if c.laddr else None,
                "remote": f"{c.raddr.ip}:{c.raddr.port}" if c.raddr else None,
                "state": c.status,
                "pid": c.pid,
            }
        )
    return {"source": "psutil", "connections": rows}


_SECRET_ARG = re.compile(r"(?i)((?:password|passwd|token|secret|key)[=:])\S+")


def redact_cmdline(cmd: str) -> str:
    """Mask ``--password=x``/``token:x`` style values and URL passwords in a command line."""
    masked = _SECRET_ARG.sub(r"\1***", cmd)
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", masked)


def processes() -> list[dict[str, Any]]:
    try:
        import psutil
    except ImportError:
        return []
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "create_time", "username"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if (
            "smc" in cmd
            or "postgres" in (proc.info.get("name") or "")
            or "redis" in (proc.info.get("name") or "")
        ):
            found.append(
                {
                    "pid": proc.info["pid"],
                    "name": proc.info["name"],
                    "cmdline": redact_cmdline(cmd)[:500],
                    "user": proc.info.get("username"),
                    "started": proc.info.get("create_time"),
                }
            )
    return found


def tail(path: Path, lines: int) -> bytes:
    with path.open("rb") as fh:
        return b"".join(deque(fh, maxlen=lines))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    files: dict[str, str]  # relative name -> sha256

    @property
    def sums_sha256(self) -> str:
        return sha256_file(self.path / "SHA256SUMS")


def capture(
    root: Path,
    *,
    now: datetime,
    sections: dict[str, Any],
    log_files: list[Path],
    tail_lines: int = 5000,
    incident_id: str | None = None,
) -> Bundle:
    """Write the bundle; ``sections`` are JSON-able dicts collected by the caller (state, config, ...)."""
    name = f"incident-{now:%Y%m%d_%H%M%S}" + (f"-{incident_id}" if incident_id else "")
    bundle = root / name
    n = 1
    while bundle.exists():
        n += 1
        bundle = root / f"{name}-{n}"
    (bundle / "logs").mkdir(parents=True)
    all_sections = {
        **sections,
        "connections": open_connections(),
        "processes": processes(),
        "captured": {
            "at": now.isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "incident_id": incident_id,
        },
    }
    for key, value in all_sections.items():
        (bundle / f"{key}.json").write_text(json.dumps(value, indent=2, default=str, sort_keys=True), "utf-8")
    missing = []
    for i, path in enumerate(log_files):
        if path.is_file():
            (bundle / "logs" / f"{i:02d}-{path.name}").write_bytes(tail(path, tail_lines))
        else:
            missing.append(str(path))
    if missing:
        (bundle / "logs" / "MISSING.txt").write_text("\n".join(missing) + "\n", "utf-8")
    files = {str(p.relative_to(bundle)): sha256_file(p) for p in sorted(bundle.rglob("*")) if p.is_file()}
    (bundle / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in files.items()), "utf-8")
    return Bundle(bundle, files)
