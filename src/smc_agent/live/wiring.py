"""Builds the live services from a small, picklable config (used by the CLI, tests and benches,
and as the target of a forked execution-engine process)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field

from smc_agent.control.clock import WallClock
from smc_agent.control.failover import FailoverManager
from smc_agent.control.redis_kv import RedisKeyValueStore
from smc_agent.control.trading import TradingControl
from smc_agent.core.control import KeyValueStore
from smc_agent.live.execution_service import ExecutionOptions, ExecutionService
from smc_agent.live.gateway import OrderGateway
from smc_agent.live.incidents import IncidentHook
from smc_agent.live.routing import VenueRouter
from smc_agent.live.streams import MemoryStreamBus, RedisStreamBus, StreamBus
from smc_agent.logs import configure_logging, get_logger
from smc_agent.store.control_repo import DbControlJournal, DbKeyValueStore
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.trading_repo import TradingRepo
from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway

log = get_logger("smc_agent.live.wiring")


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    database_url: str
    db_statement_timeout_s: float = 15.0  # see Settings.db_statement_timeout_s
    redis_url: str | None = None  # control store and streams; None = embedded store, in-process bus
    venue: str = "binance"
    venue_url: str | None = None  # e.g. the exchange simulator's http://127.0.0.1:PORT
    backup_venue: str | None = None  # failover target: new orders go there once failover is active
    backup_venue_url: str | None = None
    backup_api_key: str | None = None  # None = the primary venue's key and secret
    backup_secret: str | None = None
    api_key: str | None = None
    secret: str | None = None
    ccxt_timeout_ms: int = 5_000
    venue_timeout_s: float = 10.0
    user_id: str | None = None
    options: ExecutionOptions = field(default_factory=ExecutionOptions)
    log_level: str = "INFO"


def build_venue(config: ExecutionConfig, *, backup: bool = False) -> CcxtGateway:
    venue = config.backup_venue if backup and config.backup_venue else config.venue
    exchange = make_client(
        venue,
        base_url=config.backup_venue_url if backup else config.venue_url,
        api_key=(config.backup_api_key or config.api_key) if backup else config.api_key,
        secret=(config.backup_secret or config.secret) if backup else config.secret,
        timeout_ms=config.ccxt_timeout_ms,
        enable_rate_limit=False,
    )
    return CcxtGateway(exchange, venue=venue)


def build_router(config: ExecutionConfig, control: TradingControl, repo: TradingRepo) -> VenueRouter:
    manager = FailoverManager(
        kv=control.kv,
        journal=control.journal,
        primary=config.venue,
        backup=config.backup_venue or ("bybit" if config.venue != "bybit" else "binance"),
    )
    venues = {config.venue, *((config.backup_venue,) if config.backup_venue else ())}
    return VenueRouter(active_venue=manager.active_venue, repo=repo, configured=lambda: venues)


def build_control(
    database_url: str, redis_url: str | None, *, statement_timeout_s: float = 15.0
) -> tuple[TradingControl, TradingRepo]:
    factory = make_session_factory(make_engine(database_url, statement_timeout_s=statement_timeout_s))
    kv: KeyValueStore = RedisKeyValueStore(redis_url) if redis_url else DbKeyValueStore(factory)
    return TradingControl(kv=kv, journal=DbControlJournal(factory)), TradingRepo(factory)


def build_execution(
    config: ExecutionConfig, *, bus: StreamBus | None = None, on_incident: IncidentHook | None = None
) -> ExecutionService:
    """``on_incident`` (e.g. the ops incident opener's ``open_or_attach``, passed in by the CLI: live
    sits below ops) is called when reconciliation finds an unexplained mismatch."""
    control, repo = build_control(
        config.database_url, config.redis_url, statement_timeout_s=config.db_statement_timeout_s
    )
    if bus is None:
        bus = RedisStreamBus(config.redis_url) if config.redis_url else MemoryStreamBus()
    service: ExecutionService | None = None

    async def publish(event: object) -> None:
        assert service is not None
        await service.publish(event)  # type: ignore[arg-type]

    venues = {config.venue: build_venue(config)}
    if config.backup_venue and config.backup_venue != config.venue:
        venues[config.backup_venue] = build_venue(config, backup=True)
    gateway = OrderGateway(
        venues=venues,
        repo=repo,
        control=control,
        clock=WallClock(),
        publish=publish,
        user_id=config.user_id,
        venue_timeout_s=config.venue_timeout_s,
        router=build_router(config, control, repo),
        on_incident=on_incident,
    )
    gateway.traded_symbols = tuple(config.options.freshness_symbols)
    service = ExecutionService(gateway=gateway, bus=bus, options=config.options)
    return service


async def close_execution(service: ExecutionService) -> None:
    await service.stop()
    for venue in service.gateway.venues.values():
        close = getattr(venue, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
    with contextlib.suppress(Exception):
        await service.bus.close()


async def serve_execution(
    config: ExecutionConfig, stop: asyncio.Event | None = None, *, on_incident: IncidentHook | None = None
) -> None:
    """Run the execution engine until ``stop`` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    service = build_execution(config, on_incident=on_incident)
    try:
        await service.start()
        await stop.wait()
        log.info("execution engine stopping (graceful)")
    finally:
        await close_execution(service)


def execution_engine_main(config: ExecutionConfig) -> None:
    """Process entry point (``smc-agent serve execution-engine`` and forked test processes)."""
    configure_logging(level=config.log_level, fmt="json")
    asyncio.run(serve_execution(config))
