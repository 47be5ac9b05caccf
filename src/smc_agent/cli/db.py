"""``smc-agent db upgrade|downgrade|current``."""

from __future__ import annotations

import typer

from smc_agent.cli.common import console, container, print_json
from smc_agent.store import migrate

app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    with container() as c:
        migrate.upgrade(c.settings.effective_database_url, revision)
        console.print(f"database at revision [bold]{migrate.current_revision(c.engine)}[/]")


@app.command()
def downgrade(revision: str = typer.Argument("-1", help="Target revision, e.g. -1 or base.")) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    with container() as c:
        migrate.downgrade(c.settings.effective_database_url, revision)
        console.print(f"database at revision [bold]{migrate.current_revision(c.engine) or 'base'}[/]")


@app.command()
def current(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show the current and the head revision."""
    with container() as c:
        url = c.settings.effective_database_url
        data = {"current": migrate.current_revision(c.engine), "head": migrate.head_revision(url)}
        if json_out:
            print_json(data)
        else:
            console.print(f"current: {data['current'] or 'base'}  head: {data['head']}")
