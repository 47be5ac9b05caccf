"""``smc-agent status|halt|resume`` and ``smc-agent failover ...``: the one control facade."""

from __future__ import annotations

import time

import typer

from smc_agent.cli.common import actor, console, container, err_console, print_json
from smc_agent.control.trading import HEARTBEAT_KEY
from smc_agent.core.control import ControlStoreUnavailable
from smc_agent.ops.status import system_status

failover_app = typer.Typer(help="Venue failover (binance <-> bybit).", no_args_is_help=True)
reconcile_app = typer.Typer(
    help="Reconciliation with the venues: accept a venue's history reconciled by hand.", no_args_is_help=True
)


@reconcile_app.command("accept")
def reconcile_accept(
    venue: str = typer.Option(..., "--venue", help="binance or bybit"),
    reason: str = typer.Option(..., "--reason", help="How the account was reconciled (recorded)."),
) -> None:
    """The venue's fills up to now are reconciled by hand (e.g. after restoring an older backup: the
    positions corrected, the orders the database lost accounted for): the engine's reconciliation no
    longer holds them against the database. Trading stays halted until `smc-agent resume`."""
    from smc_agent.store.trading_repo import TradingRepo

    if venue not in ("binance", "bybit"):
        err_console.print(f"[bold red]--venue must be binance or bybit, not {venue!r}[/]")
        raise typer.Exit(2)
    with container() as c:
        TradingRepo(c.session_factory).accept_venue_history(
            venue, int(time.time() * 1000), actor=actor(), reason=reason
        )
    console.print(
        f"{venue}: fills up to now accepted as reconciled ({reason}); resume with `smc-agent resume`"
    )


def status(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Trading state, database and control-store reachability, schema version, active venue."""
    with container() as c:
        data = system_status(c)
    if json_out:
        print_json(data)
        return
    trading = data["trading"]
    colour = {"active": "green", "reducing": "yellow"}.get(trading["state"], "red")
    console.print(f"trading: [bold {colour}]{trading['state'].upper()}[/]  {trading['reason']}")
    for name, dep in data["dependencies"].items():
        mark = "[green]ok[/]" if dep["ok"] else f"[red]DOWN[/] {dep.get('error', '')}"
        extra = ""
        if name == "database" and dep["ok"]:
            extra = f" {dep['backend']} schema {dep['schema_revision']} (head {dep['schema_head']})"
        console.print(f"{name}: {mark} {dep['latency_ms']} ms{extra}")
    for name, comp in data["components"].items():
        mark = "[green]ok[/]" if comp.get("ok", True) else f"[red]DOWN[/] {comp.get('error', '')}"
        console.print(f"{name}: {mark}")
    venue = data["venue"]
    if venue["ok"]:
        console.print(
            f"venue: {venue['active_venue']} (failover {'ON' if venue['failover_active'] else 'off'})"
        )
    console.print(f"overall: {data['status']}")


def halt(reason: str = typer.Option(..., "--reason", help="Why trading is halted (recorded).")) -> None:
    """Halt all trading now (the same as the playbook's SET emergency_halt)."""
    if not reason.strip():
        err_console.print("a halt needs a reason: --reason TEXT")
        raise typer.Exit(2)
    with container() as c:
        try:
            snap = c.trading_control.halt(reason=reason, actor=actor(), source="cli")
        except ControlStoreUnavailable as exc:
            err_console.print(f"[bold red]NOT halted[/]: {exc}")
            raise typer.Exit(1) from None
    console.print(f"[bold red]trading {snap.state.value}[/]: {snap.reason}")


def resume(
    reason: str = typer.Option(..., "--reason", help="Why trading may resume (recorded)."),
    wait: float = typer.Option(30.0, help="Seconds to wait for a running engine's verification."),
) -> None:
    """Release the halt: a running engine verifies and resumes; without one, checks run here."""
    with container() as c:
        control = c.trading_control
        try:
            control.request_release(reason=reason, actor=actor(), source="cli")
            engine_running = c.kv.get(HEARTBEAT_KEY) is not None
        except ControlStoreUnavailable as exc:
            err_console.print(f"[red]cannot release: {exc}[/]")
            raise typer.Exit(1) from None
        if not engine_running:
            checks = [
                ("database", lambda: None if c.journal.ping() >= 0 else "no answer"),
                ("control store", lambda: None if c.kv.ping() >= 0 else "no answer"),
            ]
            snap = control.complete_release(checks, actor=actor())
        else:
            deadline = time.monotonic() + wait
            snap = control.observe()
            while (
                snap.latch is not None
                and snap.latch.status == "release_requested"
                and time.monotonic() < deadline
            ):
                time.sleep(0.2)
                snap = control.observe()
    if snap.state.value == "halted":
        err_console.print(f"[red]still halted:[/] {snap.reason}")
        raise typer.Exit(1)
    console.print(f"[green]trading {snap.state.value}[/]")


@failover_app.command("activate")
def failover_activate(from_venue: str, to_venue: str, reason: str = typer.Option(..., "--reason")) -> None:
    """Route market data and new orders from FROM_VENUE to TO_VENUE."""
    with container() as c:
        try:
            data = c.failover.activate_failover(
                from_venue, to_venue, reason=reason, actor=actor(), source="cli"
            )
        except ValueError as exc:
            err_console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    console.print(f"active venue: [bold]{data['active_venue']}[/]")


@failover_app.command("deactivate")
def failover_deactivate(reason: str = typer.Option(..., "--reason")) -> None:
    """Return to the primary venue."""
    with container() as c:
        data = c.failover.deactivate_failover(reason=reason, actor=actor(), source="cli")
    console.print(f"active venue: [bold]{data['active_venue']}[/]")


@failover_app.command("status")
def failover_status(json_out: bool = typer.Option(False, "--json")) -> None:
    """Active venue, failover state and stranded positions."""
    with container() as c:
        data = c.failover.status()
    if json_out:
        print_json(data)
    else:
        console.print(data)
