"""``smc-agent serve <role>``: one role per process (the Kubernetes Deployments run these)."""

from __future__ import annotations

import importlib.util

import typer

from smc_agent.cli import serve_api

app = typer.Typer(help="Run one service of the system (one role per process).", no_args_is_help=True)
serve_api.register(app)

if importlib.util.find_spec("smc_agent.cli.runtime") is not None:
    from smc_agent.cli import runtime

    app.command("trading-engine")(runtime.serve_trading_engine)
    app.command("execution-engine")(runtime.serve_execution_engine)
    app.command("data-pipeline")(runtime.serve_data_pipeline)
