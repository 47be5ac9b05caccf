"""The ``smc-agent`` command line, grouped by noun.

Sub-commands are imported only when invoked: ``smc-agent status`` must not pay for ccxt, numba or
FastAPI. Each entry names the module and attribute (a Typer sub-app or a command function) and the
one-line help shown by ``smc-agent --help``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": (
        "smc_agent.cli.runtime",
        "demo",
        "Run the whole system on the embedded default and paper-trade.",
    ),
    "run": ("smc_agent.cli.runtime", "run", "Run every role in one process (in-process bus)."),
    "serve": ("smc_agent.cli.serve", "app", "Run one service of the system (one role per process)."),
    "status": (
        "smc_agent.cli.control",
        "status",
        "Trading state, dependencies, schema version, active venue.",
    ),
    "halt": ("smc_agent.cli.control", "halt", "Halt all trading now (same as SET emergency_halt)."),
    "resume": ("smc_agent.cli.control", "resume", "Release the halt after verification."),
    "failover": ("smc_agent.cli.control", "failover_app", "Venue failover (binance <-> bybit)."),
    "reconcile": (
        "smc_agent.cli.control",
        "reconcile_app",
        "Reconciliation with the venues: accept a venue's history reconciled by hand.",
    ),
    "db": ("smc_agent.cli.db", "app", "Database schema migrations (Alembic)."),
    "users": ("smc_agent.cli.users", "app", "User accounts."),
    "keys": ("smc_agent.cli.keys", "app", "API keys (create, list, revoke, rotate)."),
    "data": ("smc_agent.cli.data", "app", "Market data: download, validate and store candles."),
    "exchange-sim": (
        "smc_agent.cli.exchange_sim",
        "exchange_sim",
        "Exchange simulator (Binance / Bybit APIs).",
    ),
    "analyze": ("smc_agent.cli.analyze", "analyze", "Detect SMC objects in a CSV and draw a chart."),
    "backtest": ("smc_agent.cli.backtest", "app", "Backtests: run one, or sweep a parameter grid."),
    "incident": ("smc_agent.cli.incident", "app", "Incidents: open, update, resolve, notify, post-mortem."),
    "runbook": ("smc_agent.cli.runbook", "app", "Executable runbooks of the incident playbook."),
    "backup": ("smc_agent.cli.backup", "app", "Database backups: create, list, verify, restore."),
    "forensics": ("smc_agent.cli.forensics", "app", "Forensic queries: logins, API errors, unusual trades."),
}


def _available(name: str) -> bool:
    return importlib.util.find_spec(COMMANDS[name][0]) is not None


def load_command(name: str) -> Any:
    module_name, attr, _help = COMMANDS[name]
    obj: Any = getattr(importlib.import_module(module_name), attr)
    command: Any
    if isinstance(obj, typer.Typer):
        command = typer.main.get_group(obj)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name, help=_help if not obj.__doc__ else None)(obj)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        return load_command(cmd_name)


app = typer.Typer(
    name="smc-agent",
    cls=LazyGroup,
    help="SMC Trading Agent: causal Smart Money Concepts trading, backtests, live/paper trading, operations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


@app.callback()
def main() -> None:
    """SMC Trading Agent: causal Smart Money Concepts trading, backtests, live/paper trading, operations."""


if __name__ == "__main__":
    app()
