"""Create, list, verify, restore and prune backups.

``verify`` = the manifest's SHA-256 of the file, gzip integrity (``gzip -t`` and a full CRC-checked
decompression), then a real restore into a scratch database whose per-table row counts and
checksums must equal those recorded when the backup was taken.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smc_agent.core.clock import Clock
from smc_agent.ops.backup import engines
from smc_agent.ops.backup.fingerprint import compare
from smc_agent.ops.backup.storage import BackupStore, read_manifest, write_manifest
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.trading_repo import TradingRepo

Step = Callable[[str], None]
CHUNK = 1 << 20


def _noop(_: str) -> None:
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def gzip_file(source: Path, target: Path) -> None:
    with source.open("rb") as src, gzip.open(target, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, CHUNK)


def gunzip_checked(source: Path, target: Path) -> None:
    """Decompress fully; the gzip module checks every member's CRC-32 and length."""
    try:
        with gzip.open(source, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError; truncation is EOFError
        raise engines.BackupError(f"gzip integrity check failed: {exc}") from None


def gzip_test(path: Path) -> str | None:
    """``gzip -t`` as in the playbook when the binary exists; returns the problem or None."""
    binary = shutil.which("gzip")
    if binary is None:
        return None
    proc = subprocess.run([binary, "-t", str(path)], capture_output=True, text=True, check=False)
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"gzip -t exit {proc.returncode}")


# written by the running control plane during a restore (the halt latch and its audit rows)
CONTROL_TABLES = ("control_state", "trading_state_events")


def _without(tables: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in tables.items() if k not in names}


@dataclass
class VerifyReport:
    name: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def add(self, check: str, ok: bool, detail: str = "") -> None:
        self.checks.append((check, ok, detail))


class BackupService:
    def __init__(self, *, database_url: str, store: BackupStore, clock: Clock) -> None:
        self.url = database_url
        self.backend = engines.backend_of(database_url)
        self.store = store
        self.clock = clock

    # ------------------------------------------------------------------ create
    def create(self, *, label: str = "manual", step: Step = _noop) -> dict[str, Any]:
        if not label.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"backup label {label!r}: use letters, digits, '-' or '_'")
        now = datetime.fromtimestamp(self.clock.timestamp_ms() / 1000, UTC)
        ext = "dump" if self.backend == "postgresql" else "sqlite"
        name = f"smc_trading-{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{label}.{ext}.gz"
        with tempfile.TemporaryDirectory(prefix="smc-backup-") as tmp:
            raw, packed = Path(tmp) / f"db.{ext}", Path(tmp) / name
            step("dumping a consistent snapshot")
            dump = engines.pg_dump if self.backend == "postgresql" else engines.sqlite_dump
            tables, revision = dump(self.url, raw)
            step("compressing (gzip)")
            gzip_file(raw, packed)
            manifest = {
                "name": name,
                "label": label,
                "created_at": now.isoformat(),
                "format": f"{ext}+gzip",
                "source": engines.describe(self.url),
                "size_bytes": packed.stat().st_size,
                "raw_size_bytes": raw.stat().st_size,
                "sha256": sha256_file(packed),
                "tables": tables,
                "schema_revision": revision,
            }
            step(f"uploading to {self.store.location}")
            self.store.put(packed, name)
            write_manifest(self.store, name, manifest, Path(tmp))
        return manifest

    # ------------------------------------------------------------------ list
    def list_backups(self) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="smc-backup-") as tmp:
            return [read_manifest(self.store, name, Path(tmp)) for name in self.store.names()]

    def _require(self, name: str) -> None:
        if name not in self.store.names():
            raise FileNotFoundError(
                f"no backup {name!r} in {self.store.location} (see smc-agent backup list)"
            )

    def latest(self) -> str:
        names = self.store.names()
        if not names:
            raise engines.BackupError(f"no backups in {self.store.location}")
        return names[-1]

    # ------------------------------------------------------------------ verify
    def verify(self, name: str, *, step: Step = _noop) -> VerifyReport:
        self._require(name)
        report = VerifyReport(name)
        with tempfile.TemporaryDirectory(prefix="smc-verify-") as tmp:
            packed, raw = Path(tmp) / name, Path(tmp) / "restored.raw"
            step(f"downloading {name}")
            manifest = read_manifest(self.store, name, Path(tmp))
            self.store.get(name, packed)
            digest = sha256_file(packed)
            report.add("sha256", digest == manifest["sha256"], digest)
            problem = gzip_test(packed)
            report.add("gzip -t", problem is None, problem or "ok")
            step("decompressing (CRC-checked)")
            try:
                gunzip_checked(packed, raw)
            except engines.BackupError as exc:
                report.add("gunzip", False, str(exc))
                return report
            report.add("gunzip", True, f"{raw.stat().st_size} bytes")
            step("restoring into a scratch database")
            try:
                restored = self._restore_scratch(manifest, raw)
            except engines.BackupError as exc:
                report.add("restore", False, str(exc))
                return report
            report.add("restore", True, f"{len(restored)} tables")
            problems = compare(manifest["tables"], restored)
            rows = sum(t["rows"] for t in restored.values())
            report.add(
                "row counts and checksums", not problems, "; ".join(problems) or f"{rows} rows identical"
            )
        return report

    def _restore_scratch(self, manifest: dict[str, Any], raw: Path) -> dict[str, Any]:
        if manifest["format"].startswith("dump"):
            if self.backend != "postgresql":
                raise engines.BackupError(
                    "a PostgreSQL dump needs SMC_DATABASE_URL on PostgreSQL to be verified"
                )
            with engines.pg_scratch_database(self.url) as scratch:
                engines.pg_restore(scratch, raw)
                return engines.pg_fingerprint(scratch)
        return engines.sqlite_fingerprint(raw)

    # ------------------------------------------------------------------ restore
    def restore(
        self,
        name: str,
        *,
        halt: Callable[[str], None],
        confirmed: bool,
        safety_backup: bool = True,
        step: Step = _noop,
    ) -> dict[str, Any]:
        """Halt trading, take an emergency backup, restore, then prove the database equals the backup."""
        if not confirmed:
            raise PermissionError("restoring replaces the whole database: confirmation required (--yes)")
        self._require(name)
        with tempfile.TemporaryDirectory(prefix="smc-restore-") as tmp:
            manifest = read_manifest(self.store, name, Path(tmp))
            expected = "dump" if self.backend == "postgresql" else "sqlite"
            if not manifest["format"].startswith(expected):
                raise engines.BackupError(
                    f"{name} is a {manifest['format']} backup; this database is {self.backend}"
                )
            step("halting trading")
            halt(f"restoring database backup {name}")
            emergency = None
            if safety_backup:
                step("emergency backup of the current state")
                emergency = self.create(label="emergency", step=step)["name"]
            packed, raw = Path(tmp) / name, Path(tmp) / "restore.raw"
            step(f"downloading {name}")
            self.store.get(name, packed)
            if sha256_file(packed) != manifest["sha256"]:
                raise engines.BackupError(f"{name}: checksum mismatch; refusing to restore a damaged backup")
            gunzip_checked(packed, raw)
            step("restoring")
            if self.backend == "postgresql":
                engines.pg_restore(self.url, raw)
                restored = engines.pg_fingerprint(self.url)
            else:
                engines.sqlite_restore(self.url, raw)
                restored = engines.sqlite_fingerprint(engines.sqlite_path(self.url))
        step("re-asserting the halt (the restored control tables predate it)")
        halt(f"database restored from backup {name}; verify before resuming")
        # the venues' fills since the backup are compared with the restored orders before trading
        # resumes (the execution engine's reconciliation): an order filled since is not in them
        taken = int(datetime.fromisoformat(manifest["created_at"]).timestamp() * 1000)
        engine = make_engine(self.url)
        try:
            TradingRepo(make_session_factory(engine)).mark_history_unverified(taken)
        finally:
            engine.dispose()
        # a running engine latches the halt into the control tables as soon as the restore has replaced
        # them (it observes the halt key every 200 ms): they may hold more than the backup by then
        problems = compare(_without(manifest["tables"], CONTROL_TABLES), _without(restored, CONTROL_TABLES))
        if problems:
            raise engines.BackupError("restored database differs from the backup: " + "; ".join(problems))
        return {
            "restored": name,
            "emergency_backup": emergency,
            "rows": sum(t["rows"] for t in restored.values()),
            "tables": len(restored),
            "not_compared": list(CONTROL_TABLES),
        }

    # ------------------------------------------------------------------ retention
    def prune(self, *, keep: int) -> list[str]:
        """Keep the ``keep`` newest backups (emergency backups count too); delete the rest."""
        if keep < 1:
            raise ValueError("retention must keep at least one backup")
        names = self.store.names()
        doomed = names[:-keep] if len(names) > keep else []
        for name in doomed:
            self.store.delete(name)
        return doomed
