"""``smc-agent incident ...``: open, update, resolve, list, show, post-mortem, notify, escalate, capture."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import typer
from pydantic import ValidationError
from sqlalchemy import func, select

from smc_agent.bootstrap import Container
from smc_agent.cli.common import actor, console, container, err_console, print_json
from smc_agent.control.clock import WallClock
from smc_agent.ops.escalation import EscalationScheduler
from smc_agent.ops.incidents import postmortem
from smc_agent.ops.incidents.priority import Priority, Status
from smc_agent.ops.incidents.record import IncidentRecord
from smc_agent.ops.incidents.service import IncidentClosed, IncidentNotFound, IncidentService, ms_to_dt
from smc_agent.ops.notify.dispatcher import OutboxDispatcher, requeue_dead
from smc_agent.ops.notify.router import NotificationRouter, build_providers
from smc_agent.ops.settings import OpsSettings, load_ops_settings
from smc_agent.store.db import transaction
from smc_agent.store.models import NotificationOutbox

app = typer.Typer(
    help="Incidents: open, update, resolve, timeline, notifications, post-mortems.", no_args_is_help=True
)
task_app = typer.Typer(help="Tasks of an incident (owners, due dates).", no_args_is_help=True)
app.add_typer(task_app, name="task")

CLOCK = WallClock()
VENUE_PROBE_OPT = typer.Option([], "--venue-probe", help="VENUE=PING_URL (repeatable); 3 failures open a P1.")
SEND_NOW_S = 10.0
"""How long open/update/resolve wait to send their messages (one per second per channel)."""


def ops_settings_or_exit() -> OpsSettings:
    try:
        return load_ops_settings()
    except ValidationError as exc:
        problems = "; ".join(f"SMC_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        err_console.print(f"[bold red]configuration error:[/] {problems}")
        raise typer.Exit(2) from None


def _now() -> datetime:
    return ms_to_dt(CLOCK.timestamp_ms())


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(1)


def _send_now(c: Container, settings: OpsSettings) -> None:
    """Send what is queued (one message per second per channel) for up to SEND_NOW_S seconds; what
    fails stays in the outbox for the runtime's dispatcher (or ``incident notify``)."""
    providers = build_providers(settings, clock=CLOCK)
    if not providers:
        err_console.print("[yellow]no notification channel configured (SMC_SLACK_CRITICAL_WEBHOOK, ...)[/]")
        return
    dispatcher = OutboxDispatcher(
        c.session_factory, providers, clock=CLOCK, min_interval_s=settings.notify_min_interval_s
    )
    try:
        report = dispatcher.drain(timeout_s=SEND_NOW_S)
    finally:
        dispatcher.close()
    if report.sent:
        console.print(f"notified: {len(report.sent)} message(s) sent")
    if report.retried or report.dead:
        err_console.print(
            f"[yellow]{len(report.retried)} message(s) queued for retry, {len(report.dead)} "
            "refused; see smc-agent incident outbox[/]"
        )


def _print_record(record: IncidentRecord) -> None:
    console.print(
        f"[bold]{record.id}[/] {record.priority.value} {record.priority.label} "
        f"[bold]{record.status.value}[/]  {record.title}"
    )
    console.print(f"impact: {record.impact}")
    console.print(f"commander: {record.commander or '-'}  started: {record.started_at:%Y-%m-%d %H:%M:%S} UTC")
    if record.resolved_at:
        console.print(
            f"resolved: {record.resolved_at:%Y-%m-%d %H:%M:%S} UTC  root cause: {record.root_cause}  "
            f"data lost: {'yes' if record.data_lost else 'no'}"
        )
    console.print("timeline:")
    for e in record.events:
        console.print(f"  {e.at:%H:%M:%S} {e.kind.value:<16} {e.actor:<14} {e.message}", markup=False)
    if record.tasks:
        console.print("tasks:")
        for t in record.tasks:
            due = "" if t.due_at is None else f" due {t.due_at:%Y-%m-%d %H:%M}"
            console.print(
                f"  [{'x' if t.done_at else ' '}] {t.id} {t.title} ({t.owner or 'unassigned'}{due})",
                markup=False,
            )


@app.command("open")
def open_(  # noqa: PLR0917 - typer options
    priority: str = typer.Option(
        ..., "--priority", "-p", help="P0 (5 min), P1 (15 min), P2 (1 h), P3 (4 h)."
    ),
    title: str = typer.Option(..., "--title", help="Short title."),
    impact: str = typer.Option(..., "--impact", help="Who/what is affected."),
    description: str | None = typer.Option(None, "--description", help="Initial assessment."),
    commander: str | None = typer.Option(None, "--commander", help="Incident commander (default: who acks)."),
    category: str = typer.Option("general", "--category", help="general | security | data"),
    action: list[str] = typer.Option([], "--action", help="An action already taken (repeatable)."),  # noqa: B008
    send: bool = typer.Option(True, "--send/--no-send", help="Send the initial alert now."),
) -> None:
    """Open an incident; prints its id and the initial alert sent to stakeholders."""
    settings = ops_settings_or_exit()
    router = NotificationRouter(settings)
    try:
        prio = Priority.parse(priority)
    except ValueError as exc:
        raise _fail(exc) from None
    with container() as c:
        try:
            with transaction(c.session_factory) as s:
                record = IncidentService(s, clock=CLOCK, sink=router).open(
                    priority=prio,
                    title=title,
                    impact=impact,
                    actor=actor(),
                    source="cli",
                    commander=commander,
                    category=category,
                    description=description,
                    actions=action,
                )
        except ValueError as exc:
            raise _fail(exc) from None
        typer.echo(record.id)
        typer.echo(router.render(record, "initial", at=record.started_at, extra={}))
        if send:
            _send_now(c, settings)


@app.command()
def show(incident_id: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """An incident with its timeline and tasks."""
    with container() as c, transaction(c.session_factory) as s:
        try:
            record = IncidentService(s, clock=CLOCK).get(incident_id)
        except IncidentNotFound as exc:
            raise _fail(exc) from None
    if json_out:
        print_json(record.to_dict())
    else:
        _print_record(record)


@app.command("list")
def list_(
    open_only: bool = typer.Option(False, "--open", help="Only unresolved incidents."),
    limit: int = typer.Option(50, "--limit", min=1),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Recent incidents, newest first."""
    with container() as c, transaction(c.session_factory) as s:
        records = IncidentService(s, clock=CLOCK).list_incidents(open_only=open_only, limit=limit)
    if json_out:
        print_json([{k: v for k, v in r.to_dict().items() if k not in ("events", "tasks")} for r in records])
        return
    if not records:
        console.print("no incidents")
    for r in records:
        console.print(
            f"{r.id:<24} {r.priority.value} {r.status.value:<13} {r.started_at:%Y-%m-%d %H:%M} {r.title}",
            markup=False,
        )


@app.command()
def ack(incident_id: str) -> None:
    """Acknowledge (stops the paging escalation); you become commander if none is set."""
    with container() as c:
        try:
            with transaction(c.session_factory) as s:
                record = IncidentService(s, clock=CLOCK).acknowledge(incident_id, actor=actor(), source="cli")
        except (IncidentNotFound, IncidentClosed) as exc:
            raise _fail(exc) from None
    console.print(f"{record.id} acknowledged by {actor()}; commander {record.commander}")


@app.command()
def update(
    incident_id: str,
    status: str | None = typer.Option(None, "--status", "-s", help="investigating | identified | monitoring"),
    note: str = typer.Option(..., "--note", "-n", help="Progress description (sent to stakeholders)."),
    eta: str | None = typer.Option(None, "--eta", help="ETA to resolution, e.g. '30 min'."),
    send: bool = typer.Option(True, "--send/--no-send"),
) -> None:
    """Change the status and/or post a progress note; sends the status update."""
    settings = ops_settings_or_exit()
    router = NotificationRouter(settings)
    with container() as c:
        try:
            new_status = None if status is None else Status.parse(status)
            with transaction(c.session_factory) as s:
                record = IncidentService(s, clock=CLOCK, sink=router).update(
                    incident_id, status=new_status, note=note, actor=actor(), source="cli", eta=eta
                )
        except (ValueError, IncidentNotFound) as exc:
            raise _fail(exc) from None
        console.print(f"{record.id} {record.status.value}")
        if send:
            _send_now(c, settings)


@app.command()
def action(incident_id: str, message: str = typer.Option(..., "--message", "-m")) -> None:
    """Record an action taken (appears in updates and the post-mortem)."""
    with container() as c:
        try:
            with transaction(c.session_factory) as s:
                IncidentService(s, clock=CLOCK).record_action(
                    incident_id, message=message, actor=actor(), source="cli"
                )
        except IncidentNotFound as exc:
            raise _fail(exc) from None
    console.print("recorded")


@app.command()
def resolve(
    incident_id: str,
    root_cause: str = typer.Option(..., "--root-cause"),
    resolution: str = typer.Option(..., "--resolution"),
    data_lost: bool = typer.Option(False, "--data-lost/--no-data-lost", help="Whether any data was lost."),
    send: bool = typer.Option(True, "--send/--no-send"),
) -> None:
    """Resolve; sends the resolution message (which states whether data was lost)."""
    settings = ops_settings_or_exit()
    router = NotificationRouter(settings)
    with container() as c:
        try:
            with transaction(c.session_factory) as s:
                record = IncidentService(s, clock=CLOCK, sink=router).resolve(
                    incident_id,
                    root_cause=root_cause,
                    resolution=resolution,
                    data_lost=data_lost,
                    actor=actor(),
                    source="cli",
                )
        except (ValueError, IncidentNotFound) as exc:
            raise _fail(exc) from None
        typer.echo(router.render(record, "resolution", at=_now(), extra={}))
        if send:
            _send_now(c, settings)


@app.command("postmortem")
def postmortem_(incident_id: str, output: Path | None = typer.Option(None, "--output", "-o")) -> None:  # noqa: B008
    """Draft the post-mortem (Markdown): timeline, durations, actions, the playbook's checklists."""
    with container() as c, transaction(c.session_factory) as s:
        try:
            record = IncidentService(s, clock=CLOCK).get(incident_id)
        except IncidentNotFound as exc:
            raise _fail(exc) from None
    text = postmortem.draft(record, now=_now())
    if output is None:
        typer.echo(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        console.print(f"written {output}")


@task_app.command("add")
def task_add(
    incident_id: str,
    title: str = typer.Option(..., "--title"),
    owner: str | None = typer.Option(None, "--owner"),
    due: datetime | None = typer.Option(None, "--due", help="UTC, e.g. 2026-11-30T12:00"),  # noqa: B008
) -> None:
    """Add a task with an owner and a due date (UTC)."""
    due_at = None if due is None else due.replace(tzinfo=due.tzinfo or _now().tzinfo)
    with container() as c:
        try:
            with transaction(c.session_factory) as s:
                task = IncidentService(s, clock=CLOCK).add_task(
                    incident_id, title=title, owner=owner, due_at=due_at, actor=actor(), source="cli"
                )
        except (ValueError, IncidentNotFound) as exc:
            raise _fail(exc) from None
    typer.echo(task.id)


@task_app.command("done")
def task_done(task_id: str) -> None:
    """Mark a task done."""
    with container() as c:
        try:
            with transaction(c.session_factory) as s:
                IncidentService(s, clock=CLOCK).complete_task(task_id, actor=actor(), source="cli")
        except IncidentNotFound as exc:
            raise _fail(exc) from None
    console.print("done")


@app.command()
def notify(watch: bool = typer.Option(False, "--watch", help="Keep sending until interrupted.")) -> None:
    """Send pending notifications from the outbox (once, or continuously with --watch)."""
    settings = ops_settings_or_exit()
    with container() as c:
        providers = build_providers(settings, clock=CLOCK)
        dispatcher = OutboxDispatcher(
            c.session_factory, providers, clock=CLOCK, min_interval_s=settings.notify_min_interval_s
        )
        try:
            if watch:
                _watch(dispatcher.run)
            else:
                report = dispatcher.dispatch_once()
                console.print(
                    f"sent {len(report.sent)}, retry {len(report.retried)}, refused {len(report.dead)}"
                )
        finally:
            dispatcher.close()


@app.command()
def escalate(watch: bool = typer.Option(False, "--watch", help="Keep checking until interrupted.")) -> None:
    """Fire due pages and escalation triggers (once, or continuously with --watch)."""
    settings = ops_settings_or_exit()
    with container() as c:
        scheduler = EscalationScheduler(c.session_factory, clock=CLOCK, router=NotificationRouter(settings))
        if watch:
            _watch(scheduler.run)
            return
        for incident_id, key in scheduler.tick():
            console.print(f"{incident_id}: {key}")


def _watch(run: object) -> None:
    stop = threading.Event()
    try:
        run(stop)  # type: ignore[operator]
    except KeyboardInterrupt:
        stop.set()


@app.command()
def outbox(
    requeue: bool = typer.Option(False, "--requeue", help="Send refused (dead) messages again."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Notification outbox: pending, sent and refused messages per channel."""
    with container() as c:
        if requeue:
            console.print(f"requeued {requeue_dead(c.session_factory, now=_now())}")
        with transaction(c.session_factory) as s:
            rows = s.execute(
                select(NotificationOutbox.channel, NotificationOutbox.status, func.count()).group_by(
                    NotificationOutbox.channel, NotificationOutbox.status
                )
            ).all()
    data = [{"channel": ch, "status": st, "count": n} for ch, st, n in rows]
    if json_out:
        print_json(data)
        return
    for row in data:
        console.print(f"{row['channel']:<16} {row['status']:<8} {row['count']}")


@app.command()
def capture(
    incident_id: str | None = typer.Argument(None, help="Incident whose timeline gets the evidence."),
    out: Path | None = typer.Option(None, "--out", help="Where bundles go (default <data dir>/evidence)."),  # noqa: B008
    tail_lines: int = typer.Option(5000, "--tail", min=1, help="Lines kept per log file."),
) -> None:
    """Capture evidence BEFORE restarting anything (same as smc-agent forensics capture)."""
    from smc_agent.cli.forensics import take_capture

    with container() as c:
        bundle = take_capture(c, out=out, incident_id=incident_id, tail_lines=tail_lines)
    console.print(
        f"evidence bundle {bundle.path} ({len(bundle.files)} files); SHA256SUMS {bundle.sums_sha256}"
    )


@app.command()
def watch(
    health_url: str | None = typer.Option(
        None,
        "--health-url",
        help="Probe this /health URL (e.g. http://127.0.0.1:8000/health); 3 failures in a row open a P0.",
    ),
    poll: float = typer.Option(1.0, "--poll", min=0.05, help="Seconds between control-plane checks."),
    venue_probe: list[str] = VENUE_PROBE_OPT,
) -> None:
    """Run the ops workers until interrupted: open incidents automatically (latched halt, control store
    down, venue failover, /health failing), send the outbox, page and escalate."""
    from smc_agent.ops.background import OpsWorkers, incident_opener
    from smc_agent.ops.watchers import ControlWatcher

    if any("=" not in p for p in venue_probe):
        raise _fail(
            ValueError("--venue-probe expects VENUE=URL, e.g. binance=https://api.binance.com/api/v3/ping")
        )
    probes = dict(p.split("=", 1) for p in venue_probe)
    settings = ops_settings_or_exit()
    with container() as c:
        watcher = ControlWatcher(
            incident_opener(c.session_factory, settings, clock=CLOCK),
            trading=c.trading_control,
            failover=c.failover,
            health_url=health_url,
            venue_probes=probes,
        )
        workers = OpsWorkers(c.session_factory, settings, clock=CLOCK, watcher=watcher, watch_poll_s=poll)
        workers.start()
        console.print("ops workers running (Ctrl-C to stop)")
        stop = threading.Event()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            workers.stop()
