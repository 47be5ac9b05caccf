"""``smc-agent exchange-sim``: run the exchange simulator (Binance /api/v3 or Bybit /v5) on a port."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from smc_agent.cli.common import err_console
from smc_agent.venues.simulator import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    ExchangeSimulator,
    Feed,
    SimulatorConfig,
    load_bars,
    parse_data_arg,
)


def exchange_sim(  # noqa: PLR0917 - Typer maps parameters onto CLI options
    venue: Annotated[str, typer.Option("--venue", help="binance or bybit")],
    data: Annotated[
        list[str], typer.Option("--data", help="Candle CSV to replay, repeatable; [SYMBOL@TF=]path.csv")
    ],
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0 = any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    speed: Annotated[
        float, typer.Option("--speed", min=0, help="Replay speed x real time; 0 = step only.")
    ] = 1.0,
    start_index: Annotated[int, typer.Option("--start-index", min=0, help="Candles already closed.")] = 500,
    restamp: Annotated[bool, typer.Option("--restamp/--no-restamp", help="Shift timestamps to now.")] = True,
) -> None:
    """Serve replayed candles through the real venue API; fault injection at /admin/fault."""
    if venue not in ("binance", "bybit"):
        raise typer.BadParameter(f"--venue: expected binance or bybit, got {venue!r}")
    feeds = []
    for arg in data:
        try:
            symbol, timeframe, path = parse_data_arg(arg)
            feeds.append(Feed(symbol, timeframe, load_bars(path)))
        except (ValueError, FileNotFoundError) as exc:
            raise typer.BadParameter(f"--data {arg}: {exc}") from None
    config = SimulatorConfig(
        venue=venue,
        feeds=tuple(feeds),
        start_index=start_index,
        speed=speed,
        restamp=restamp,
        host=host,
        port=port,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config))


async def _serve(config: SimulatorConfig) -> None:
    async with ExchangeSimulator(config) as sim:
        symbols = ", ".join(f"{f.symbol} {f.timeframe} ({len(f.bars)} candles)" for f in config.feeds)
        err_console.print(f"[bold green]{config.venue} simulator[/] on {sim.url}  (WebSocket {sim.ws_url})")
        err_console.print(f"replaying {symbols}; api key {DEFAULT_API_KEY!r} secret {DEFAULT_API_SECRET!r}")
        err_console.print('admin: POST /admin/step {"candles": n}, POST /admin/fault {...}, GET /admin/stats')
        feed = config.feeds[0]
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err_console) as progress:
            task = progress.add_task("replay", total=len(feed.bars))
            while True:
                closed = feed.closed_count(sim.state.data_now)
                progress.update(
                    task,
                    completed=closed,
                    description=f"replayed {closed}/{len(feed.bars)} candles, "
                    f"{sum(sim.state.requests.values())} requests",
                )
                await asyncio.sleep(0.5)


if __name__ == "__main__":
    typer.run(exchange_sim)
