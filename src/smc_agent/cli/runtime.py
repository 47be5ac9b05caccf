"""Runtime commands: ``smc-agent demo``, ``smc-agent run`` and ``smc-agent serve trading-engine |
execution-engine | data-pipeline``.

Registration in ``cli/main.py``::

    from smc_agent.cli import runtime
    app.command("demo")(runtime.demo)
    app.command("run")(runtime.run)
    serve_app.command("trading-engine")(runtime.serve_trading_engine)
    serve_app.command("execution-engine")(runtime.serve_execution_engine)
    serve_app.command("data-pipeline")(runtime.serve_data_pipeline)

Also runnable on its own: ``python -m smc_agent.cli.runtime demo --duration 60``.

Probes for Kubernetes (each ``serve`` command): ``GET /healthz`` (liveness) and ``GET /readyz``
(readiness) on ``--health-port`` (defaults: trading-engine 8081, execution-engine 8082,
data-pipeline 8083).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import typer
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from smc_agent.cli.common import console, container, err_console

app = typer.Typer(help="Run the trading runtime.", no_args_is_help=True)

VenueUrlOpt = typer.Option(
    None, "--venue-url", help="Base URL of the venue, e.g. an exchange simulator (smc-agent exchange-sim)."
)
LiveOpt = typer.Option(False, "--live", help="Send real orders (needs SMC_EXCHANGE_API_KEY/SECRET).")
SymbolOpt = typer.Option("BTC/USDT", "--symbol", help="Instrument traded / subscribed.")
TimeframeOpt = typer.Option("1m", "--timeframe", help="Base timeframe of the candle feed.")
NameOpt = typer.Option(
    None, "--name", help="Consumer name (default: host name); keep it stable across restarts."
)


def _redis_or_exit(redis_url: str | None) -> str:
    if not redis_url:
        err_console.print(
            "[bold red]separate services talk through Redis Streams:[/] set SMC_REDIS_URL "
            "(or run every role in one process with `smc-agent run`)"
        )
        raise typer.Exit(2)
    return redis_url


def _keys(live: bool, venue_url: str | None, mode: str = "live") -> tuple[str | None, str | None]:
    from smc_agent.venues.simulator import DEFAULT_API_KEY, DEFAULT_API_SECRET

    if live and mode != "live":  # SMC_MODE=live is what refuses default or empty secrets
        err_console.print(
            f"[bold red]--live needs SMC_MODE=live[/] (it is {mode}): live mode refuses default secrets"
        )
        raise typer.Exit(2)
    if live:
        key, secret = os.environ.get("SMC_EXCHANGE_API_KEY"), os.environ.get("SMC_EXCHANGE_SECRET")
        if not key or not secret:
            err_console.print("[bold red]--live needs SMC_EXCHANGE_API_KEY and SMC_EXCHANGE_SECRET[/]")
            raise typer.Exit(2)
        return key, secret
    if venue_url is None:
        err_console.print(
            "[bold red]paper trading needs a paper venue:[/] pass --venue-url of an exchange simulator "
            "(smc-agent exchange-sim), or --live with exchange keys"
        )
        raise typer.Exit(2)
    return DEFAULT_API_KEY, DEFAULT_API_SECRET


def _incident_hook(c: Any) -> Any:
    """The ops incident opener's ``open_or_attach``: live sits below ops, so the CLI passes it in."""
    from smc_agent.ops.background import incident_opener
    from smc_agent.ops.settings import OpsSettings

    return incident_opener(c.session_factory, OpsSettings()).open_or_attach


def _ops_workers(c: Any) -> Any:
    """Outbox dispatcher, escalation scheduler and incident watcher (latched halt, control store down,
    failover): what ``smc-agent incident watch`` runs alone. No /health probe: the API is in this
    very process (an external ``incident watch --health-url`` covers a crashed process)."""
    from smc_agent.ops.background import OpsWorkers, incident_opener
    from smc_agent.ops.settings import OpsSettings
    from smc_agent.ops.watchers import ControlWatcher

    ops = OpsSettings()
    watcher = ControlWatcher(
        incident_opener(c.session_factory, ops),
        trading=c.trading_control,
        failover=c.failover,
    )
    return OpsWorkers(c.session_factory, ops, watcher=watcher)


def _backup_keys(live: bool, backup_url: str | None) -> tuple[str | None, str | None] | None:
    """Keys of the failover venue, or None when no backup venue is configured for orders."""
    if live:
        key = os.environ.get("SMC_BACKUP_EXCHANGE_API_KEY")
        secret = os.environ.get("SMC_BACKUP_EXCHANGE_SECRET")
        return (key, secret) if key and secret else None
    return _keys(False, backup_url) if backup_url else None


def _serve(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def serve_execution_engine(
    *,
    venue_url: str | None = VenueUrlOpt,
    live: bool = LiveOpt,
    symbol: str = SymbolOpt,
    name: str | None = NameOpt,
    health_port: int = typer.Option(8082, "--health-port", help="Port of /healthz and /readyz."),
    backup_venue_url: str | None = typer.Option(
        None,
        "--backup-venue-url",
        help="Base URL of the backup venue (SMC_BACKUP_VENUE) for paper trading; with --live its keys "
        "come from SMC_BACKUP_EXCHANGE_API_KEY/SECRET. New orders follow the failover's active venue.",
    ),
) -> None:
    """The single order gateway: orders stream -> write-ahead -> venue -> events stream."""
    from smc_agent.live.execution_service import ExecutionOptions
    from smc_agent.live.wiring import ExecutionConfig, serve_execution

    with container() as c:
        redis_url = _redis_or_exit(c.settings.redis_url)
        key, secret = _keys(live, venue_url, c.settings.mode.value)
        backup = _backup_keys(live, backup_venue_url)
        config = ExecutionConfig(
            database_url=c.settings.effective_database_url,
            db_statement_timeout_s=c.settings.db_statement_timeout_s,
            redis_url=redis_url,
            venue=c.settings.primary_venue,
            venue_url=venue_url,
            api_key=key,
            secret=secret,
            backup_venue=None if backup is None else c.settings.backup_venue,
            backup_venue_url=backup_venue_url,
            backup_api_key=None if backup is None else backup[0],
            backup_secret=None if backup is None else backup[1],
            options=ExecutionOptions(
                consumer_name=name or f"execution-{socket.gethostname()}",
                freshness_symbols=(symbol,),
                health_port=health_port,
            ),
        )
        console.print(
            f"[bold]execution-engine[/] venue={config.venue} probes on :{health_port}/healthz|/readyz"
        )
        hook = _incident_hook(c)
        _serve(lambda stop: serve_execution(config, stop, on_incident=hook))


def serve_trading_engine(
    venue_url: str | None = VenueUrlOpt,
    name: str | None = NameOpt,
    health_port: int = typer.Option(8081, "--health-port", help="Port of /healthz and /readyz."),
) -> None:
    """The ONE trading engine: candles stream -> bots (loaded from the database) -> orders stream."""
    from smc_agent.live.health import HealthServer
    from smc_agent.live.strategies import STRATEGIES
    from smc_agent.live.streams import RedisStreamBus
    from smc_agent.live.trading_service import TradingService
    from smc_agent.live.wiring import ExecutionConfig
    from smc_agent.store.trading_repo import TradingRepo

    with container() as c:
        redis_url = _redis_or_exit(c.settings.redis_url)
        venue_config = ExecutionConfig(database_url="", venue=c.settings.primary_venue, venue_url=venue_url)

        async def main(stop: asyncio.Event) -> None:
            instruments = await _instruments(venue_config, stop)
            if instruments is None:
                return
            bus = RedisStreamBus(redis_url)
            service = TradingService(
                bus=bus,
                repo=TradingRepo(c.session_factory),
                control=c.trading_control,
                instruments=instruments,
                strategies=STRATEGIES,
                starting_cash=Decimal(10_000),
                consumer_name=name or f"trading-{socket.gethostname()}",
                on_incident=_incident_hook(c),
                mode=c.settings.mode.value,
                active_venue=c.failover.active_venue,
            )
            health = HealthServer(
                name="trading-engine",
                ready=lambda: (True, {"bots": sorted(service.engine.bots)}),
                port=health_port,
            )
            await health.start()
            await service.start()
            console.print(
                f"[bold]trading-engine[/] bots={sorted(service.engine.bots)} probes on :{health_port}"
            )
            await stop.wait()
            await service.stop()
            await health.stop()
            await bus.close()

        _serve(main)


async def _instruments(config: Any, stop: asyncio.Event) -> Any:
    """The venue's instruments; a venue that does not answer yet (starting with the engine, a
    network blip) is asked again every 2 s until it does, or None once ``stop`` is set."""
    from smc_agent.core.errors import SmcAgentError
    from smc_agent.live.wiring import build_venue

    while not stop.is_set():
        venue = build_venue(config)
        try:
            return await venue.load_instruments()
        except (SmcAgentError, TimeoutError, OSError) as exc:
            err_console.print(f"[yellow]venue {config.venue} not answering ({exc}); retrying in 2 s[/]")
        finally:
            await venue.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2.0)
    return None


def serve_data_pipeline(  # noqa: PLR0917 - typer options
    venue_url: str | None = VenueUrlOpt,
    symbol: str = SymbolOpt,
    timeframe: str = TimeframeOpt,
    health_port: int = typer.Option(8083, "--health-port", help="Port of /healthz and /readyz."),
    backup_venue_url: str | None = typer.Option(
        None,
        "--backup-venue-url",
        help="Base URL of the backup venue (SMC_BACKUP_VENUE): once the failover is active, candles "
        "come from there (public data, no keys). Without --venue-url both venues are the real "
        "exchanges and the backup needs no URL.",
    ),
    warmup: int = typer.Option(300, "--warmup", min=1, help="Closed candles back-filled on start."),
    poll: float = typer.Option(1.0, "--poll", min=0.05, help="Seconds between candle polls."),
) -> None:
    """Closed candles from the venue (public data, no keys) -> candles stream: the --symbol on the
    --timeframe, and the symbol and timeframe of every bot running on the venue (read from the
    database every 15 s)."""
    from smc_agent.control.trading import DATA_HEARTBEAT_KEY
    from smc_agent.core.ids import InstrumentId
    from smc_agent.live.data_service import DataService, Subscription, bot_feeds
    from smc_agent.live.health import HealthServer
    from smc_agent.live.streams import RedisStreamBus
    from smc_agent.live.wiring import ExecutionConfig, build_venue
    from smc_agent.marketdata.store import SqlCandleStore
    from smc_agent.store.trading_repo import TradingRepo

    with container() as c:
        redis_url = _redis_or_exit(c.settings.redis_url)
        venue_name = c.settings.primary_venue
        config = ExecutionConfig(
            database_url="",
            venue=venue_name,
            venue_url=venue_url,
            backup_venue=c.settings.backup_venue,
            backup_venue_url=backup_venue_url,
        )

        async def main(stop: asyncio.Event) -> None:
            venue = build_venue(config)
            # real exchanges (no URLs): the backup is the real backup venue; a primary at a custom URL
            # (a simulator) has a backup only when its URL is given too
            backup = build_venue(config, backup=True) if backup_venue_url or not venue_url else None
            bus = RedisStreamBus(redis_url)
            data = DataService(
                bus=bus,
                venue=venue,
                subscriptions=[Subscription(InstrumentId(venue_name, symbol), timeframe)],
                poll_s=poll,
                warmup=warmup,
                backup=backup,
                active_venue=None if backup is None else c.failover.active_venue,
                wanted=bot_feeds(TradingRepo(c.session_factory), venue_name),
                heartbeat=lambda: c.kv.set(DATA_HEARTBEAT_KEY, socket.gethostname(), ttl_s=5.0),
                store=SqlCandleStore(c.session_factory),
            )
            health = HealthServer(
                name="data-pipeline",
                port=health_port,
                ready=lambda: data.ready() if not task.done() else (False, {"loop": "ended"}),
            )
            task = asyncio.get_running_loop().create_task(data.run())
            await health.start()
            console.print(
                f"[bold]data-pipeline[/] {symbol} {timeframe} on {venue_name}"
                + (f" (failover to {c.settings.backup_venue})" if backup else "")
                + f" probes on :{health_port}"
            )
            await stop.wait()
            data.stopping = True
            await asyncio.wait([task], timeout=3)
            await health.stop()
            for v in (venue, backup):
                if v is not None:
                    await v.close()
            await bus.close()

        _serve(main)


def _api_app(c: Any, streams: Any) -> Any:
    """The API/dashboard app when the API package is installed and builds (optional for the engines);
    it relays the engines' events and candles on ``streams`` (the in-process bus) to /ws."""
    try:
        from smc_agent.api.app import create_app

        return create_app(c, streams=streams)
    except ImportError as exc:
        err_console.print(f"[yellow]API not available ({exc}); running without the dashboard[/]")
        return None


def _run_all(duration: float | None, port: int | None, offline: bool, speed: float, demo_mode: bool) -> Any:
    from smc_agent.live.allinone import AllInOne
    from smc_agent.live.demo import DEMO_PASSWORD, DEMO_USER, run_demo
    from smc_agent.live.streams import MemoryStreamBus

    with container() as c:
        streams = MemoryStreamBus()
        bind_port = port or c.settings.api_port
        total = duration if duration is not None else float("inf")

        def started(runtime: AllInOne, source: str) -> None:
            lines = [
                f"market data : {source}",
                f"database    : {c.settings.effective_database_url}",
                f"dashboard   : {runtime.api_url or 'not available'}"
                + (f"  (login {DEMO_USER} / {DEMO_PASSWORD})" if demo_mode and runtime.api_url else ""),
                "status      : smc-agent status   (halt: smc-agent halt --reason TEXT, resume: smc-agent resume)",
            ]
            console.print(Panel("\n".join(lines), title="SMC Trading Agent: paper trading", expand=False))

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[figures]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task("paper trading", total=None if duration is None else duration, figures="")

            def progress(elapsed: float, figures: dict[str, Any]) -> None:
                text = (
                    f"candles {figures['candles']}  orders {figures['orders']}  fills {figures['fills']}  "
                    f"position {figures['position']}  {figures['state']}"
                )
                bar.update(task, completed=min(elapsed, total), figures=text)

            try:
                result = asyncio.run(
                    run_demo(
                        database_url=c.settings.effective_database_url,
                        session_factory=c.session_factory,
                        cache_dir=c.settings.data_dir / "cache",
                        duration_s=total,
                        port=bind_port,
                        offline=offline,
                        speed=speed,
                        api_app=_api_app(c, streams),
                        streams=streams,
                        progress=progress,
                        started=started,
                        ensure_demo=demo_mode,
                        on_incident=_incident_hook(c),
                        workers=_ops_workers(c),
                    )
                )
            except KeyboardInterrupt:
                console.print("stopped")
                return None
        console.print(
            f"done: {result.candles} candles, {result.orders} orders, {result.fills} filled, "
            f"position {result.position} BTC, trading {result.state}. Look: smc-agent status"
        )
        return result


def demo(
    duration: float = typer.Option(60.0, "--duration", min=1.0, help="Seconds to run, then exit cleanly."),
    port: int | None = typer.Option(None, "--port", help="Dashboard/API port (default SMC_API_PORT, 8000)."),
    offline: bool = typer.Option(False, "--offline", help="Do not try to download market data."),
    speed: float = typer.Option(300.0, "--speed", min=1.0, help="Replay speed (x real time)."),
) -> None:
    """Everything on the embedded default: demo user and SMC bot, replayed market, paper trading."""
    _run_all(duration, port, offline, speed, demo_mode=True)


def run(
    port: int | None = typer.Option(None, "--port", help="Dashboard/API port (default SMC_API_PORT, 8000)."),
    offline: bool = typer.Option(False, "--offline", help="Do not try to download market data."),
    speed: float = typer.Option(
        1.0, "--speed", min=1.0, help="Replay speed of the paper market (x real time)."
    ),
    duration: float | None = typer.Option(None, "--duration", help="Stop after this many seconds."),
) -> None:
    """Every role in one process (in-process bus): the bots in the database trade on the paper venue."""
    _run_all(duration, port, offline, speed, demo_mode=False)


app.command("demo")(demo)
app.command("run")(run)
serve = typer.Typer(help="Run one service.", no_args_is_help=True)
serve.command("trading-engine")(serve_trading_engine)
serve.command("execution-engine")(serve_execution_engine)
serve.command("data-pipeline")(serve_data_pipeline)
app.add_typer(serve, name="serve")

if __name__ == "__main__":
    app()
