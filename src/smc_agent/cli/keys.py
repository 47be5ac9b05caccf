"""``smc-agent keys create|list|revoke|rotate``; the api-key-rotation CronJob runs
``smc-agent keys rotate --all --older-than-days 90 --output /secure/rotated-keys.json``."""

# ruff: noqa: B008  (Typer declares options as defaults)
from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.progress import Progress
from rich.table import Table

from smc_agent.api import keys as key_service
from smc_agent.cli.common import console, container, err_console, print_json
from smc_agent.store import users as user_service
from smc_agent.store.db import transaction
from smc_agent.store.models import ApiKey

app = typer.Typer(help="API keys (create, list, revoke, rotate).", no_args_is_help=True)


def _fail(message: str) -> None:
    err_console.print(f"[red]error:[/] {message}")
    raise typer.Exit(1)


def _key_row(key: ApiKey, username: str = "") -> dict[str, object]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "user": username or key.user_id,
        "name": key.name,
        "scopes": list(key.scopes),
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "rotated_from": key.rotated_from,
    }


@app.command()
def create(
    user: str = typer.Option(..., "--user", help="Username or user id of the owner."),
    name: str = typer.Option("default", help="A label for the key."),
    scope: list[str] = typer.Option(["read"], "--scope", help="read, trade or control (repeat)."),
    expires_days: int | None = typer.Option(
        90, "--expires-days", min=0, max=3650, help="Lifetime in days, at most 3650 (0 = never)."
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Create a key; the full key is printed once."""
    with container() as c:
        try:
            with transaction(c.session_factory) as session:
                owner = user_service.get_user(session, user)
                if owner is None:
                    _fail(f"no user {user!r}")
                    return
                issued = key_service.create_key(
                    session, user_id=owner.id, name=name, scopes=scope, expires_in_days=expires_days or None
                )
                data = {**_key_row(issued.key, owner.username), "key": issued.secret}
        except key_service.ApiKeyError as exc:
            _fail(str(exc))
    if json_out:
        print_json(data)
    else:
        console.print(f"created key [bold]{data['prefix']}[/] for {data['user']} scopes {','.join(scope)}")
        console.print(f"key (shown once): {data['key']}")


@app.command("list")
def list_(
    user: str | None = typer.Option(None, "--user", help="Only this user's keys."),
    include_revoked: bool = typer.Option(False, "--all", help="Include revoked keys."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List keys (prefixes only; secrets are never stored)."""
    with container() as c, c.session_factory() as session:
        user_id = None
        if user is not None:
            owner = user_service.get_user(session, user)
            if owner is None:
                _fail(f"no user {user!r}")
                return
            user_id = owner.id
        names = {u.id: u.username for u in user_service.list_users(session)}
        rows = [
            _key_row(k, names.get(k.user_id, ""))
            for k in key_service.list_keys(session, user_id=user_id, include_revoked=include_revoked)
        ]
    if json_out:
        print_json(rows)
        return
    table = Table("prefix", "user", "name", "scopes", "created", "expires", "revoked")
    for r in rows:
        table.add_row(
            str(r["prefix"]),
            str(r["user"]),
            str(r["name"]),
            ",".join(r["scopes"]),  # type: ignore[arg-type]
            str(r["created_at"])[:19],
            str(r["expires_at"] or "-")[:19],
            str(r["revoked_at"] or "-")[:19],
        )
    console.print(table)


@app.command()
def revoke(key: str = typer.Argument(..., help="Key id or prefix (smc_xxxxxx).")) -> None:
    """Revoke a key: refused from the next request on."""
    with container() as c:
        try:
            with transaction(c.session_factory) as session:
                row = key_service.revoke_key(session, key=key_service.find_key(session, key))
                prefix = row.prefix
        except key_service.ApiKeyError as exc:
            _fail(str(exc))
    console.print(f"revoked {prefix}")


@app.command()
def rotate(
    key: str | None = typer.Argument(None, help="Key id or prefix; or use --all."),
    all_keys: bool = typer.Option(False, "--all", help="Rotate every active key (the CronJob)."),
    older_than_days: int | None = typer.Option(
        None, "--older-than-days", help="With --all: only keys at least this old."
    ),
    output: Path | None = typer.Option(None, "--output", help="Write the new keys here (JSON, mode 0600)."),
    revoke_only: bool = typer.Option(
        False, "--revoke-only", help="Revoke without replacements (incident response)."
    ),
) -> None:
    """Replace keys with new ones (same owner, name, scopes, lifetime); the old keys stop at once.

    New secrets go to --output (never to the log); with --revoke-only the owners create new keys."""
    if (key is None) == (not all_keys):
        _fail("name one key, or pass --all")
    if not revoke_only and output is None:
        _fail("new keys are secrets: pass --output FILE (written with mode 0600), or --revoke-only")
    rotated: list[dict[str, object]] = []
    with container() as c:
        try:
            with transaction(c.session_factory) as session:
                names = {u.id: u.username for u in user_service.list_users(session)}
                targets = (
                    [key_service.find_key(session, key)]
                    if key is not None
                    else key_service.keys_due_for_rotation(session, older_than_days=older_than_days)
                )
                with Progress(console=err_console, transient=True) as progress:
                    task = progress.add_task("rotating API keys", total=len(targets))
                    for old in targets:
                        if revoke_only:
                            key_service.revoke_key(session, key=old)
                            rotated.append({"old_prefix": old.prefix, "user": names.get(old.user_id, "")})
                        else:
                            issued = key_service.rotate_key(session, key=old)
                            rotated.append(
                                {
                                    "old_prefix": old.prefix,
                                    **_key_row(issued.key, names.get(old.user_id, "")),
                                    "key": issued.secret,
                                }
                            )
                        progress.advance(task)
                if output is not None and not revoke_only:
                    _write_private(output, rotated)
        except key_service.ApiKeyError as exc:
            _fail(str(exc))
    verb = "revoked" if revoke_only else "rotated"
    console.print(
        f"{verb} {len(rotated)} key(s)" + (f"; new keys in {output}" if output and not revoke_only else "")
    )
    for r in rotated:
        console.print(f"  {r['old_prefix']} ({r['user']})" + ("" if revoke_only else f" -> {r['prefix']}"))


def _write_private(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(rows, handle, indent=2)
