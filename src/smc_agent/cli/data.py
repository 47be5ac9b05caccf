"""``smc-agent data``: market data commands (download with resume and a progress bar)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy import inspect

from smc_agent.cli.candle_csv import wrong_epoch_unit
from smc_agent.cli.common import container, err_console
from smc_agent.core.candle import timeframe_ms
from smc_agent.core.errors import SmcAgentError
from smc_agent.marketdata.download import CandleDownloader, DownloadResult
from smc_agent.marketdata.repair import find_problems
from smc_agent.marketdata.store import END_OF_TIME_MS, SqlCandleStore
from smc_agent.venues.quirks import QUIRKS

app = typer.Typer(help="Market data: download, validate and store candles.", no_args_is_help=True)


@app.callback()
def data() -> None:
    """Market data commands."""


def parse_time(text: str, option: str) -> int:
    """``2024-01-01``, ``2024-01-01T12:00`` (UTC) or milliseconds since the epoch."""
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{option}: expected YYYY-MM-DD[THH:MM[:SS]] or epoch ms, got {text!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    venue: str
    symbol: str
    timeframe: str
    since_ms: int
    until_ms: int
    url: str | None
    state_dir: Path
    page_size: int


@app.command()
def download(  # noqa: PLR0917 - Typer maps positional parameters onto CLI arguments
    venue: Annotated[str, typer.Argument(help="binance or bybit")],
    symbol: Annotated[str, typer.Argument(help="Unified symbol, e.g. BTC/USDT")],
    timeframe: Annotated[str, typer.Argument(help="e.g. 1m, 5m, 1h, 1d")],
    since: Annotated[str, typer.Option("--since", help="Start (UTC date/time or epoch ms), inclusive.")],
    until: Annotated[str, typer.Option("--until", help="End (UTC date/time or epoch ms), exclusive.")],
    url: Annotated[
        str | None, typer.Option("--url", help="Base URL of the venue API (e.g. the simulator).")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Where resume checkpoints are kept.")
    ] = None,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=1000, help="Candles per request.")
    ] = 1000,
) -> None:
    """Download candles into the database; rerun the same command to resume after an interruption."""
    if venue not in QUIRKS:
        raise typer.BadParameter(f"unknown venue {venue!r}: expected one of {', '.join(sorted(QUIRKS))}")
    try:
        timeframe_ms(timeframe)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    since_ms, until_ms = parse_time(since, "--since"), parse_time(until, "--until")
    if until_ms <= since_ms:
        raise typer.BadParameter("--until must be after --since")
    for text, option in ((since, "--since"), (until, "--until")):
        unit = wrong_epoch_unit(int(text), int(text)) if text.isdigit() else None
        if unit is not None:  # 1704067200 was read as milliseconds: January 1970, and "complete"
            raise typer.BadParameter(f"{option}: {text} looks like epoch {unit}; give epoch milliseconds")
    if url is not None and not (urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc):
        raise typer.BadParameter(f"--url: expected http(s)://host[:port], got {url!r}")
    with container() as c:
        if not inspect(c.engine).has_table("candles"):
            err_console.print(
                "[bold red]the database has no candles table:[/] run `smc-agent db upgrade` first"
            )
            raise typer.Exit(2)
        request = DownloadRequest(
            venue,
            symbol,
            timeframe,
            since_ms,
            until_ms,
            url,
            state_dir or c.settings.data_dir / "downloads",
            page_size,
        )
        try:
            result = asyncio.run(_run(request, SqlCandleStore(c.session_factory)))
        except SmcAgentError as exc:
            err_console.print(f"[bold red]download failed:[/] {exc} (rerun the same command to resume)")
            raise typer.Exit(1) from None
        except (ValueError, TypeError) as exc:  # a corrupt checkpoint, a --url ccxt cannot use
            err_console.print(f"[bold red]download failed:[/] {exc}")
            raise typer.Exit(2) from None
    status = "complete" if result.complete else "stopped at the venue's newest candle"
    typer.echo(
        f"{status}: stored {result.stored} new candles ({result.fetched} fetched, {result.pages} pages, "
        f"{result.repairs} repairs)"
    )


@app.command()
def validate(
    venue: Annotated[str, typer.Argument(help="binance or bybit")],
    symbol: Annotated[str, typer.Argument(help="Unified symbol, e.g. BTC/USDT")],
    timeframe: Annotated[str, typer.Argument(help="e.g. 1m, 5m, 1h, 1d")],
) -> None:
    """Check the stored candles of one series: impossible values, duplicates, off-grid times, gaps.
    Exit 0 when clean, 1 when a problem was found (each kind counted, the first of each shown)."""
    try:
        timeframe_ms(timeframe)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with container() as c:
        if not inspect(c.engine).has_table("candles"):
            err_console.print("[bold red]the database has no candles table:[/] run `smc-agent db upgrade`")
            raise typer.Exit(2)
        candles = SqlCandleStore(c.session_factory).get(
            venue, symbol, timeframe, start_ms=0, end_ms=END_OF_TIME_MS
        )
    if not candles:
        err_console.print(f"no stored candles for {venue}:{symbol}:{timeframe}")
        raise typer.Exit(1)
    problems = find_problems(candles, timeframe)
    first: dict[str, str] = {}
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.kind] = counts.get(p.kind, 0) + 1
        first.setdefault(p.kind, f"{p.open_time}: {p.detail}")
    typer.echo(f"{venue}:{symbol}:{timeframe}: {len(candles)} candles stored")
    for kind, count in counts.items():
        typer.echo(f"  {kind}: {count} (first at {first[kind]})")
    if problems:
        raise typer.Exit(1)
    typer.echo("  no problems")


async def _run(req: DownloadRequest, store: SqlCandleStore) -> DownloadResult:
    # ccxt takes seconds to import: only the command that talks to a venue pays for it
    from smc_agent.venues.client import make_client
    from smc_agent.venues.gateway import CcxtGateway

    gateway = CcxtGateway(make_client(req.venue, base_url=req.url), venue=req.venue)
    downloader = CandleDownloader(gateway, store, state_dir=req.state_dir, page_size=req.page_size)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err_console) as progress:
            task = progress.add_task(
                f"{req.venue} {req.symbol} {req.timeframe}", total=req.until_ms - req.since_ms
            )
            return await downloader.download(
                req.symbol,
                req.timeframe,
                since_ms=req.since_ms,
                until_ms=req.until_ms,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    finally:
        await gateway.close()


if __name__ == "__main__":
    app()
