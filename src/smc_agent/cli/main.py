"""The ``smc-agent`` command line, grouped by noun."""

from __future__ import annotations

import typer

from smc_agent.cli import control, db, users

app = typer.Typer(
    name="smc-agent",
    help="SMC Trading Agent: causal Smart Money Concepts trading, backtests, live/paper trading, operations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(control.failover_app, name="failover")
app.command()(control.status)
app.command()(control.halt)
app.command()(control.resume)

if __name__ == "__main__":
    app()
