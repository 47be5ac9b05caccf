"""Builds the live services from a small, picklable config (used by the CLI, tests and benches,
and as the target of a forked execution-engine process)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field

from smc_agent.control.clock import WallClock
from smc_agent.control.redis_kv import RedisKeyValueStore
from smc_agent.control.trading import TradingControl
from smc_agent.core.control import KeyValueStore
from smc_agent.live.execution_service import ExecutionOptions, ExecutionService
from smc_agent.live.gateway import OrderGateway
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
    redis_url: str | None = None  # control store and streams; None = embedded store, in-process bus
    venue: str = "binance"
    venue_url: str | None = None  # e.g. the exchange simulator's http://127.0.0.1:PORT
    api_key: str | None = None
    secret: str | None = None
    ccxt_timeout_ms: int = 5_000
    venue_timeout_s: float = 10.0
    user_id: str | None = None
    options: ExecutionOptions = field(default_factory=ExecutionOptions)
    log_level: str = "INFO"


def build_venue(config: ExecutionConfig) -> CcxtGateway:
    exchange = make_client(
        config.venue,
        base_url=config.venue_url,
        api_key=config.api_key,
        secret=config.secret,
        timeout_ms=config.ccxt_timeout_ms,
        enable_rate_limit=False,
    )
    return CcxtGateway(exchange, venue=config.venue)


def build_control(database_url: str, redis_url: str | None) -> tuple[TradingControl, TradingRepo]:
    factory = make_session_factory(make_engine(database_url))
    kv: KeyValueStore = RedisKeyValueStore(redis_url) if redis_url else DbKeyValueStore(factory)
    return TradingControl(kv=kv, journal=DbControlJournal(factory)), TradingRepo(factory)


def build_execution(config: ExecutionConfig, *, bus: StreamBus | None = None) -> ExecutionService:
    control, repo = build_control(config.database_url, config.redis_url)
    if bus is None:
        bus = RedisStreamBus(config.redis_url) if config.redis_url else MemoryStreamBus()
    service: ExecutionService | None = None

    async def publish(event: object) -> None:
        assert service is not None
        await service.publish(event)  # type: ignore[arg-type]

    gateway = OrderGateway(
        venues={config.venue: build_venue(config)},
        repo=repo,
        control=control,
        clock=WallClock(),
        publish=publish,
        user_id=config.user_id,
        venue_timeout_s=config.venue_timeout_s,
    )
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


async def serve_execution(config: ExecutionConfig, stop: asyncio.Event | None = None) -> None:
    """Run the execution engine until ``stop`` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    service = build_execution(config)
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
