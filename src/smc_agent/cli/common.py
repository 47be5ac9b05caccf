"""Shared CLI plumbing: settings from the environment, one clear error for bad configuration."""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy
import sqlalchemy.engine
import sqlalchemy.exc
import typer
from rich.console import Console

from smc_agent.bootstrap import Container
from smc_agent.core.errors import ConfigError
from smc_agent.logs import configure_logging
from smc_agent.settings import Settings, load_settings
from smc_agent.store.db import database_error

console = Console()
err_console = Console(stderr=True)


def settings_or_exit() -> Settings:
    """The settings; a bad one (the [ops] table's too: a wrong type was found mid-incident, a misspelt
    key never) stops the command with one line, exit 2."""
    from smc_agent.ops.settings import load_ops_settings

    try:
        settings = load_settings()
        load_ops_settings()
        return settings
    except ConfigError as exc:
        err_console.print(f"[bold red]configuration error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def container() -> Iterator[Container]:
    settings = settings_or_exit()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    built = Container(settings)
    try:
        yield built
    except ConfigError as exc:  # found on the way (a database URL no driver can use): one line, exit 2
        err_console.print(f"[bold red]configuration error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    except sqlalchemy.exc.DBAPIError as exc:  # a database that does not answer, or has no schema yet
        url = sqlalchemy.engine.make_url(settings.effective_database_url).render_as_string(hide_password=True)
        first = database_error(exc)
        hint = "run `smc-agent db upgrade`" if _no_schema(exc) else "is it running and reachable?"
        err_console.print(f"[bold red]database error[/] ({url}): {first}: {hint}", soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        built.close()


def _no_schema(exc: sqlalchemy.exc.DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def actor() -> str:
    return os.environ.get("SMC_ACTOR") or f"{getpass.getuser()}@{socket.gethostname()}"


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
