"""``smc-agent runbook list|show|run``: the playbook's procedures as verified, recorded steps."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import typer

from smc_agent.bootstrap import Container
from smc_agent.cli.common import actor, console, container, err_console
from smc_agent.cli.incident import ops_settings_or_exit
from smc_agent.control.clock import WallClock
from smc_agent.ops.backup.service import BackupService
from smc_agent.ops.backup.storage import DirectoryStore, S3Store
from smc_agent.ops.forensics import queries
from smc_agent.ops.incidents.auto import IncidentOpener
from smc_agent.ops.incidents.priority import EventKind
from smc_agent.ops.incidents.service import IncidentNotFound, IncidentService
from smc_agent.ops.notify.router import NotificationRouter
from smc_agent.ops.runbooks import registry
from smc_agent.ops.runbooks.framework import RunbookRunner, RunContext, Step, StepResult
from smc_agent.ops.runbooks.lock import RunbookBusy, RunbookLock
from smc_agent.ops.settings import OpsSettings
from smc_agent.ops.status import system_status
from smc_agent.store.db import transaction

app = typer.Typer(help="Executable runbooks (one per playbook procedure).", no_args_is_help=True)
CLOCK = WallClock()
PARAM_OPT = typer.Option([], "--param", help="KEY=VALUE for a runbook (api_url, p95_ms, samples, timeout_s).")


@app.command("list")
def list_() -> None:
    """Every runbook with its priority."""
    for name in registry.RUNBOOKS:
        book = registry.get(name)
        console.print(f"{name:<20} {book.priority.value}  {book.title}  ({len(book.steps)} steps)")


@app.command()
def show(name: str) -> None:
    """The steps of a runbook and their kubectl equivalents."""
    book = _book(name)
    console.print(f"[bold]{book.title}[/] ({book.priority.value})")
    for i, step in enumerate(book.steps, 1):
        flag = " [red](destructive: confirmation)[/]" if step.destructive else ""
        console.print(f"{i}. {step.name}: {step.description}{flag}")
        if step.kubectl:
            console.print(f"   cluster: {step.kubectl}", markup=False, highlight=False)


def _book(name: str):  # type: ignore[no-untyped-def]
    try:
        return registry.get(name)
    except KeyError as exc:
        err_console.print(f"[bold red]error:[/] {exc.args[0]}")
        raise typer.Exit(2) from None


def _params(
    c: Container, ops: OpsSettings, *, users: list[str], reason: str | None, wait_trades: float
) -> dict[str, Any]:
    from smc_agent.cli.forensics import take_capture

    def backup_service() -> BackupService:
        store = (
            S3Store(ops.backup_s3_url, endpoint_url=ops.backup_s3_endpoint_url)
            if ops.backup_s3_url
            else DirectoryStore(ops.backup_dir or c.settings.data_dir / "backups")
        )
        return BackupService(database_url=c.settings.effective_database_url, store=store, clock=CLOCK)

    def verify_latest() -> str:
        service = backup_service()
        name = service.latest()
        report = service.verify(name)
        return f"{name}: {'verified' if report.ok else 'FAILED'} " + "; ".join(
            f"{check}={'ok' if ok else detail}" for check, ok, detail in report.checks
        )

    def latest_backup() -> str | None:
        names = backup_service().store.names()
        return names[-1] if names else None

    def forensics() -> str:
        window = queries.Window(now=datetime.now(UTC), since=queries.parse_since("2h"))
        with transaction(c.session_factory) as s:
            logins = queries.logins(s, window)
            trades = queries.unusual_trades(s, window)
        return (
            f"{len(logins)} login(s) from {sorted({r['ip_address'] for r in logins if r['ip_address']})}; "
            f"{len(trades)} unusual trade(s)"
        )

    rotated: list[tuple[str, str]] = []  # (old key id, new key id)

    def rotate_keys() -> str:
        from smc_agent.api import keys as key_service

        path = c.settings.data_dir / "secrets" / f"rotated-keys-{datetime.now(UTC):%Y%m%d_%H%M%S}.json"
        rows = []
        with transaction(c.session_factory) as s:
            for old in key_service.keys_due_for_rotation(s):
                issued = key_service.rotate_key(s, key=old)
                rotated.append((old.id, issued.key.id))
                rows.append(
                    {
                        "user_id": old.user_id,
                        "old_prefix": old.prefix,
                        "prefix": issued.key.prefix,
                        "key": issued.secret,
                    }
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(rows, handle, indent=2)
        return f"rotated {len(rows)} key(s); new secrets in {path} (mode 0600, hand them to their owners)"

    def verify_rotation() -> str | None:
        from smc_agent.api import keys as key_service
        from smc_agent.store.models import ApiKey

        now = datetime.now(UTC)
        with transaction(c.session_factory) as s:
            for old_id, new_id in rotated:
                old, new = s.get(ApiKey, old_id), s.get(ApiKey, new_id)
                if old is None or key_service.key_usable(old, now):
                    return f"old key {old_id} still accepted"
                if new is None or not key_service.key_usable(new, now):
                    return f"replacement key {new_id} not usable"
            if key_service.keys_due_for_rotation(s) and not rotated:
                return "active keys remain unrotated"
        return None

    return {
        "rotate_keys": rotate_keys,
        "verify_rotation": verify_rotation,
        "users": users,
        "reason": reason,
        "wait_backup_trades_s": wait_trades,
        "status": lambda: system_status(c)["trading"],
        "capture": lambda: take_capture(c, out=None, incident_id=None, tail_lines=5000).path,
        "forensics": forensics,
        "verify_latest": verify_latest,
        "latest_backup": latest_backup,
        "emergency_backup": lambda: backup_service().create(label="emergency")["name"],
    }


@app.command()
def run(  # noqa: PLR0917 - typer options
    name: str,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Confirm every destructive step without asking."),
    incident_id: str | None = typer.Option(None, "--incident", help="Attach the output to this incident."),
    user: list[str] = typer.Option([], "--user", help="Account id or username (disable-accounts)."),  # noqa: B008
    reason: str | None = typer.Option(None, "--reason", help="Recorded with halts, releases, failovers."),
    param: list[str] = PARAM_OPT,
    wait_backup_trades: float = typer.Option(
        0.0,
        "--wait-backup-trades",
        help="Seconds to wait for trades on the backup venue (exchange-failover).",
    ),
) -> None:
    """Run a runbook: each step checks its precondition, acts, verifies, rolls back on failure."""
    book = _book(name)
    if any("=" not in p for p in param):
        err_console.print("[bold red]error:[/] --param expects KEY=VALUE")
        raise typer.Exit(2)
    extra = dict(p.split("=", 1) for p in param)
    ops = ops_settings_or_exit()
    who = actor()
    with container() as c:
        if not dry_run and incident_id is None:
            outcome = IncidentOpener(
                c.session_factory, clock=CLOCK, sink=NotificationRouter(ops)
            ).open_or_attach(
                cause_key=f"runbook:{book.name}",
                priority=book.priority,
                title=book.title,
                impact=f"operator {who} is running the {book.name} runbook",
                source="runbook",
                actor=who,
                category=book.category,
            )
            incident_id = outcome.record.id
            console.print(f"incident {incident_id} ({'opened' if outcome.created else 'attached'})")
        if incident_id is not None:
            try:
                with transaction(c.session_factory) as s:
                    IncidentService(s, clock=CLOCK).get(incident_id)
            except IncidentNotFound as exc:
                err_console.print(f"[bold red]error:[/] {exc}")
                raise typer.Exit(1) from None

        def record(result: StepResult) -> None:
            if incident_id is None:
                return
            with transaction(c.session_factory) as s:
                IncidentService(s, clock=CLOCK).add_event(
                    incident_id,
                    kind=EventKind.RUNBOOK,
                    actor=who,
                    source=f"runbook:{book.name}",
                    message=f"{book.name}/{result.step}: {result.status} {result.output}".strip()[:2000],
                    payload={
                        "runbook": book.name,
                        "step": result.step,
                        "status": result.status,
                        "kubectl": result.kubectl,
                    },
                )

        def confirm(step: Step) -> bool:
            if yes:
                return True
            try:
                return typer.confirm(f"{step.description}: this is destructive. Proceed?", default=False)
            except typer.Abort:  # no terminal / Ctrl-C: not confirmed
                return False

        runner = RunbookRunner(
            confirm=confirm,
            record=record,
            echo=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True),
        )
        ctx = RunContext(
            actor=who,
            services=c,
            params=_params(c, ops, users=user, reason=reason, wait_trades=wait_backup_trades) | extra,
        )
        lock = RunbookLock(c.session_factory, owner=who, runbook=book.name)
        if not dry_run:
            try:
                lock.acquire(datetime.now(UTC))
            except RunbookBusy as exc:
                err_console.print(f"[bold red]error:[/] {exc}")
                raise typer.Exit(3) from None
        try:
            result = runner.run(book, ctx, dry_run=dry_run)
        finally:
            if not dry_run:
                lock.release()
    colour = {"completed": "green", "dry-run": "cyan"}.get(result.status, "red")
    console.print(f"[bold {colour}]{book.name}: {result.status}[/]")
    if result.status not in ("completed", "dry-run"):
        raise typer.Exit(1)
