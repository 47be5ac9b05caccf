"""``smc-agent backup create|list|verify|restore|prune``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from smc_agent.bootstrap import Container
from smc_agent.cli.common import actor, console, container, err_console, print_json
from smc_agent.cli.incident import ops_settings_or_exit
from smc_agent.control.clock import WallClock
from smc_agent.ops.backup.engines import BackupError
from smc_agent.ops.backup.service import BackupService, Step
from smc_agent.ops.backup.storage import BackupStore, DirectoryStore, S3Store

app = typer.Typer(
    help="Database backups: create, list, verify (real restore), restore, prune.", no_args_is_help=True
)

DIR_OPT = typer.Option(None, "--dir", help="Backup directory (default SMC_BACKUP_DIR or <data dir>/backups).")
S3_OPT = typer.Option(None, "--s3", help="s3://bucket/prefix (default SMC_BACKUP_S3_URL).")


def _store(c: Container, directory: Path | None, s3: str | None) -> BackupStore:
    settings = ops_settings_or_exit()
    if directory is not None:
        return DirectoryStore(directory)
    url = s3 or settings.backup_s3_url
    if url:
        return S3Store(url, endpoint_url=settings.backup_s3_endpoint_url)
    return DirectoryStore(settings.backup_dir or c.settings.data_dir / "backups")


def _service(c: Container, directory: Path | None, s3: str | None) -> BackupService:
    try:
        return BackupService(
            database_url=c.settings.effective_database_url, store=_store(c, directory, s3), clock=WallClock()
        )
    except (BackupError, ValueError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _progress(title: str) -> Iterator[Step]:
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(title, total=None)

        def step(text: str) -> None:
            progress.update(task, description=f"{title}: {text}")
            progress.console.print(f"  {text}", highlight=False)

        yield step


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(1)


@app.command()
def create(
    directory: Path | None = DIR_OPT,
    s3: str | None = S3_OPT,
    label: str = typer.Option("manual", "--label", help="e.g. daily, pre-upgrade."),
    keep: int | None = typer.Option(
        None, "--keep", min=1, help="Retention: keep N newest (default SMC_BACKUP_KEEP)."
    ),
    prune: bool = typer.Option(True, "--prune/--no-prune", help="Apply retention after the backup."),
) -> None:
    """Consistent backup (pg_dump -F c / SQLite online backup), gzip, to a directory or S3."""
    with container() as c:
        service = _service(c, directory, s3)
        try:
            with _progress("backup") as step:
                manifest = service.create(label=label, step=step)
                pruned = service.prune(keep=keep or ops_settings_or_exit().backup_keep) if prune else []
        except (BackupError, ValueError, OSError) as exc:
            raise _fail(exc) from None
    rows = sum(t["rows"] for t in manifest["tables"].values())
    console.print(
        f"[green]backup[/] {manifest['name']} {manifest['size_bytes']} bytes, "
        f"{len(manifest['tables'])} tables, {rows} rows -> {service.store.location}"
    )
    for name in pruned:
        console.print(f"pruned {name}")


@app.command("list")
def list_(
    directory: Path | None = DIR_OPT, s3: str | None = S3_OPT, json_out: bool = typer.Option(False, "--json")
) -> None:
    """Backups, oldest first."""
    with container() as c:
        manifests = _service(c, directory, s3).list_backups()
    if json_out:
        print_json([{k: v for k, v in m.items() if k != "tables"} for m in manifests])
        return
    if not manifests:
        console.print("no backups")
    for m in manifests:
        rows = sum(t["rows"] for t in m["tables"].values())
        console.print(f"{m['name']}  {m['size_bytes']:>12} bytes  {rows:>9} rows  {m['created_at']}")


@app.command()
def verify(
    name: str | None = typer.Argument(None, help="Backup name (default: the latest)."),
    directory: Path | None = DIR_OPT,
    s3: str | None = S3_OPT,
) -> None:
    """sha256, gzip -t, then a real restore into a scratch database compared table by table."""
    with container() as c:
        service = _service(c, directory, s3)
        try:
            target = name or service.latest()
            with _progress(f"verify {target}") as step:
                report = service.verify(target, step=step)
        except (BackupError, FileNotFoundError) as exc:
            raise _fail(exc) from None
    for check, ok, detail in report.checks:
        console.print(f"{'[green]ok[/]' if ok else '[red]FAIL[/]'}  {check}: {detail}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"[green]{target} verified[/]")


@app.command()
def restore(
    name: str = typer.Argument(..., help="Backup name (see backup list)."),
    directory: Path | None = DIR_OPT,
    s3: str | None = S3_OPT,
    yes: bool = typer.Option(False, "--yes", help="Confirm: replace the whole database."),
    safety_backup: bool = typer.Option(
        True,
        "--safety-backup/--no-safety-backup",
        help="Take an emergency backup of the current state first.",
    ),
) -> None:
    """Halt trading, back up the current state, restore NAME, prove it matches. Trading stays halted."""
    if not yes:
        yes = typer.confirm(f"Replace the whole database with {name}? Trading will be halted", default=False)
    if not yes:
        err_console.print("aborted: nothing changed")
        raise typer.Exit(1)
    who = actor()
    with container() as c:
        service = _service(c, directory, s3)

        def halt(reason: str) -> None:
            c.trading_control.halt(reason=reason, actor=who, source="backup")

        try:
            with _progress(f"restore {name}") as step:
                result = service.restore(
                    name, halt=halt, confirmed=True, safety_backup=safety_backup, step=step
                )
        except (BackupError, FileNotFoundError, PermissionError) as exc:
            raise _fail(exc) from None
    console.print(
        f"[green]restored[/] {name}: {result['tables']} tables, {result['rows']} rows identical to "
        f"the backup; emergency backup {result['emergency_backup'] or 'skipped'}"
    )
    console.print("[bold red]trading is HALTED[/]: verify, then smc-agent resume --reason ...")


@app.command()
def prune(
    keep: int = typer.Option(..., "--keep", min=1), directory: Path | None = DIR_OPT, s3: str | None = S3_OPT
) -> None:
    """Retention: delete all but the KEEP newest backups."""
    with container() as c:
        for name in _service(c, directory, s3).prune(keep=keep):
            console.print(f"pruned {name}")
