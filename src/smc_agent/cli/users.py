"""``smc-agent users create|list|disable|enable``."""

from __future__ import annotations

import typer

from smc_agent.cli.common import console, container, err_console, print_json
from smc_agent.store import users as user_service
from smc_agent.store.db import transaction

app = typer.Typer(help="User accounts.", no_args_is_help=True)


@app.command()
def create(
    username: str,
    role: str = typer.Option("trader", help="admin, trader or viewer."),
    email: str | None = typer.Option(None),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="SMC_NEW_USER_PASSWORD",
        help="At least 8 characters.",
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Create a user."""
    with container() as c:
        try:
            with transaction(c.session_factory) as session:
                user = user_service.create_user(
                    session, username=username, password=password, role=role, email=email
                )
                data = {"id": user.id, "username": user.username, "role": user.role}
        except user_service.UserError as exc:
            err_console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    if json_out:
        print_json(data)
    else:
        console.print(f"created user [bold]{data['username']}[/] ({data['role']}) id {data['id']}")


@app.command("list")
def list_(json_out: bool = typer.Option(False, "--json")) -> None:
    """List users."""
    with container() as c, c.session_factory() as session:
        rows = [
            {
                "id": u.id,
                "username": u.username,
                "role": u.role,
                "is_active": u.is_active,
                "created_at": u.created_at,
            }
            for u in user_service.list_users(session)
        ]
    if json_out:
        print_json(rows)
        return
    for row in rows:
        flag = "" if row["is_active"] else " [red](disabled)[/]"
        console.print(f"{row['id']}  {row['username']:<20} {row['role']:<7}{flag}")


def _set_active(username: str, active: bool) -> None:
    with container() as c:
        try:
            with transaction(c.session_factory) as session:
                _, tokens = user_service.set_active(session, username_or_id=username, active=active)
        except user_service.UserError as exc:
            err_console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
        problem = user_service.drop_session_tokens(c.settings.session_redis_url, tokens)
    console.print(f"user {username} {'enabled' if active else 'disabled'}")
    if problem is not None:  # the revoked rows end the sessions; the store keeps dead tokens
        err_console.print(f"[yellow]warning:[/] session tokens not deleted from the session store: {problem}")


@app.command()
def disable(username: str) -> None:
    """Disable a user: their sessions and API keys stop working at the next request."""
    _set_active(username, False)


@app.command()
def enable(username: str) -> None:
    """Re-enable a disabled user."""
    _set_active(username, True)
