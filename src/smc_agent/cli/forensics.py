"""``smc-agent forensics logins|unusual-trades|api-errors|capture``: the playbook's investigation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import func, select

from smc_agent.bootstrap import Container
from smc_agent.cli.common import console, container, err_console, print_json
from smc_agent.cli.incident import ops_settings_or_exit
from smc_agent.control.clock import WallClock
from smc_agent.ops.forensics import access_log, queries
from smc_agent.ops.forensics.capture import Bundle, capture, redact_url
from smc_agent.ops.incidents.priority import EventKind
from smc_agent.ops.incidents.service import IncidentService
from smc_agent.ops.settings import OpsSettings
from smc_agent.ops.status import system_status
from smc_agent.store.db import transaction
from smc_agent.store.models import Base

app = typer.Typer(
    help="Forensics: logins, unusual trades, API auth errors, evidence capture.", no_args_is_help=True
)

SINCE = typer.Option("2h", "--since", help="Window, e.g. 2h, 30m, 1d.")
JSON = typer.Option(False, "--json")


def _window(since: str) -> queries.Window:
    try:
        return queries.Window(now=datetime.now(UTC), since=queries.parse_since(since))
    except ValueError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


@app.command()
def logins(since: str = SINCE, json_out: bool = JSON) -> None:
    """Logins in the window (user_sessions: username, login_time, ip_address, user_agent)."""
    window = _window(since)
    with container() as c, transaction(c.session_factory) as s:
        rows = queries.logins(s, window)
    if json_out:
        print_json(rows)
        return
    console.print(f"{len(rows)} login(s) since {window.start:%Y-%m-%d %H:%M} UTC")
    for r in rows:
        console.print(
            f"{r['login_time'][:19]}  {r['username']:<20} {r['ip_address'] or '-':<16} "
            f"{(r['user_agent'] or '-')[:60]}{'  (revoked)' if r['revoked'] else ''}",
            markup=False,
        )


@app.command("unusual-trades")
def unusual_trades(since: str = SINCE, json_out: bool = JSON) -> None:
    """Trades with quantity > 10000 or price more than 10% from the market price."""
    window = _window(since)
    with container() as c, transaction(c.session_factory) as s:
        rows = queries.unusual_trades(s, window)
    if json_out:
        print_json(rows)
        return
    console.print(f"{len(rows)} unusual trade(s) since {window.start:%Y-%m-%d %H:%M} UTC")
    for r in rows:
        console.print(
            f"{r['timestamp'][:19]}  {r['user_id'] or '-':<32} {r['symbol']:<12} qty {r['quantity']:<14} "
            f"price {r['price']}",
            markup=False,
        )


@app.command("api-errors")
def api_errors(
    since: str = SINCE,
    log: list[Path] = typer.Option([], "--log", help="Access log file(s); default SMC_API_ACCESS_LOG."),  # noqa: B008
    limit: int = typer.Option(50, "--limit", min=1, help="Show the last N (the playbook's tail -50)."),
    json_out: bool = JSON,
) -> None:
    """401/403/429 responses in the API access log, with counts by status, client and user."""
    window = _window(since)
    configured = ops_settings_or_exit().api_access_log
    paths = list(log) or ([] if configured is None else [configured])
    if not paths:
        err_console.print("[bold red]error:[/] no access log: pass --log PATH or set SMC_API_ACCESS_LOG")
        raise typer.Exit(2)
    try:
        report = access_log.api_errors(paths, window, limit=limit)
    except FileNotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if json_out:
        print_json(report.to_dict())
        return
    console.print(
        f"by status: {dict(report.by_status)}  top clients: {dict(report.by_client.most_common(5))}"
    )
    for e in report.entries:
        console.print(
            f"{e.get('timestamp', '')[:19]} {e['status']} {e.get('method', '')} {e.get('path', '')} "
            f"user={e.get('user') or e.get('user_id') or '-'} ip={e.get('client_ip')}",
            markup=False,
        )
    if report.undated_lines or report.unreadable_lines:
        err_console.print(
            f"[yellow]{report.undated_lines} matching line(s) without timestamp, "
            f"{report.unreadable_lines} non-JSON line(s) skipped[/]"
        )


def redacted_config(c: Container, ops: OpsSettings) -> dict[str, Any]:
    core = c.settings.model_dump(mode="json")
    core["database_url"] = redact_url(c.settings.database_url)
    core["redis_url"] = redact_url(c.settings.redis_url)
    core["effective_database_url"] = redact_url(c.settings.effective_database_url)
    return {"settings": core, "ops": ops.redacted()}


def evidence_sections(c: Container, ops: OpsSettings) -> dict[str, Any]:
    sections: dict[str, Any] = {"config": redacted_config(c, ops)}
    try:
        sections["state"] = system_status(c)
    except Exception as exc:  # evidence is taken when things are broken
        sections["state"] = {"error": f"{exc.__class__.__name__}: {exc}"}
    try:
        with transaction(c.session_factory) as s:
            sections["database"] = queries.database_activity(s)
            sections["database"]["row_counts"] = {
                t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables
            }
            sections["open_incidents"] = [
                r.to_dict() for r in IncidentService(s, clock=WallClock()).list_incidents(open_only=True)
            ]
    except Exception as exc:
        sections["database"] = {"error": f"{exc.__class__.__name__}: {exc}"}
    return sections


def take_capture(c: Container, *, out: Path | None, incident_id: str | None, tail_lines: int) -> Bundle:
    ops = ops_settings_or_exit()
    logs = [p for p in (ops.api_access_log,) if p is not None]
    if ops.log_dir is not None and ops.log_dir.is_dir():
        logs += sorted(p for p in ops.log_dir.iterdir() if p.is_file())
    root = out or c.settings.data_dir / "evidence"
    bundle = capture(
        root,
        now=datetime.now(UTC),
        sections=evidence_sections(c, ops),
        log_files=logs,
        tail_lines=tail_lines,
        incident_id=incident_id,
    )
    if incident_id:
        with transaction(c.session_factory) as s:
            IncidentService(s, clock=WallClock()).add_event(
                incident_id,
                kind=EventKind.EVIDENCE,
                actor="forensics",
                source="cli",
                message=f"evidence captured: {bundle.path} ({len(bundle.files)} files)",
                payload={"path": str(bundle.path), "sha256sums": bundle.sums_sha256},
            )
    return bundle


def capture_cmd(
    out: Path | None = typer.Option(None, "--out", help="Where bundles go (default <data dir>/evidence)."),  # noqa: B008
    incident_id: str | None = typer.Option(None, "--incident", help="Attach to this incident's timeline."),
    tail_lines: int = typer.Option(5000, "--tail", min=1, help="Lines kept per log file."),
) -> None:
    """State, configuration without secrets, recent logs, open connections -> bundle with SHA256SUMS."""
    with container() as c:
        bundle = take_capture(c, out=out, incident_id=incident_id, tail_lines=tail_lines)
    console.print(
        f"evidence bundle {bundle.path} ({len(bundle.files)} files); SHA256SUMS {bundle.sums_sha256}"
    )


app.command("capture")(capture_cmd)
