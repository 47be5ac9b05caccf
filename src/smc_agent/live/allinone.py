"""Every role in one process on an in-process bus (``smc-agent run`` and ``smc-agent demo``):
exchange simulator (paper venue), data pipeline, trading engine, execution engine and, when
available, the API / WebSocket / dashboard app.

The same services run as separate processes over Redis Streams with ``smc-agent serve ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from smc_agent.control.failover import FailoverManager
from smc_agent.control.trading import DATA_HEARTBEAT_KEY
from smc_agent.core.ids import InstrumentId
from smc_agent.live.data_service import DataService, Subscription
from smc_agent.live.execution_service import ExecutionOptions, ExecutionService
from smc_agent.live.incidents import IncidentHook
from smc_agent.live.strategies import STRATEGIES
from smc_agent.live.streams import MemoryStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import ExecutionConfig, build_execution, build_venue, close_execution
from smc_agent.logs import get_logger
from smc_agent.marketdata.store import SqlCandleStore
from smc_agent.venues.simulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeSimulator, SimulatorConfig
from smc_agent.venues.simulator.feed import Bar, Feed

log = get_logger("smc_agent.live.allinone")


@dataclass
class AllInOne:
    database_url: str
    bars: list[Bar]
    speed: float = 60.0
    start_index: int = 300
    symbol: str = "BTC/USDT"
    timeframe: str = "1m"
    warmup: int = 300
    api_app: Any = None  # an ASGI app to serve next to the engines (optional)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    on_incident: IncidentHook | None = None  # the ops incident opener, passed in by the CLI
    # the in-process bus; the CLI makes it so that ``api_app`` relays its events and candles to /ws
    streams: MemoryStreamBus = field(default_factory=MemoryStreamBus)
    sim: ExchangeSimulator | None = None
    execution: ExecutionService | None = None
    trading: TradingService | None = None
    data: DataService | None = None
    api_url: str | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _api_server: Any = None
    _data_venue: Any = None

    async def start(self) -> None:
        venue_symbol = self.symbol.replace("/", "")
        self.sim = ExchangeSimulator(
            SimulatorConfig(
                venue="binance",
                feeds=(Feed(venue_symbol, self.timeframe, self.bars),),
                start_index=self.start_index,
                speed=self.speed,
                balances=(("USDT", Decimal(1_000_000)), ("BTC", Decimal(20))),
            )
        )
        await self.sim.start()
        bus = self.streams
        config = ExecutionConfig(
            database_url=self.database_url,
            venue="binance",
            venue_url=self.sim.url,
            api_key=DEFAULT_API_KEY,
            secret=DEFAULT_API_SECRET,
            options=ExecutionOptions(freshness_symbols=(self.symbol,), freshness_timeframe=self.timeframe),
        )
        self.execution = build_execution(config, bus=bus, on_incident=self.on_incident)
        await self.execution.start()
        gateway = self.execution.gateway
        venue = gateway.venues["binance"]
        instruments = [i for i in await venue.load_instruments() if i.symbol == self.symbol]
        self.trading = TradingService(
            bus=bus,
            repo=gateway.repo,
            control=gateway.control,
            instruments=instruments,
            strategies=STRATEGIES,
            on_incident=self.on_incident,
            active_venue=FailoverManager(kv=gateway.control.kv, journal=gateway.control.journal).active_venue,
        )
        await self.trading.start()
        self._data_venue = build_venue(config)
        self.data = DataService(
            bus=bus,
            venue=self._data_venue,
            subscriptions=[Subscription(InstrumentId("binance", self.symbol), self.timeframe)],
            poll_s=max(0.1, min(1.0, 30.0 / max(self.speed, 1.0))),
            warmup=self.warmup,
            heartbeat=lambda: gateway.control.kv.set(DATA_HEARTBEAT_KEY, "all-in-one", ttl_s=5.0),
            store=SqlCandleStore(gateway.repo.session_factory),  # the dashboard's chart and backtests
        )
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.data.run(), name="data-pipeline"))
        if self.api_app is not None:
            await self._start_api(loop)

    async def _start_api(self, loop: asyncio.AbstractEventLoop) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.api_app,
            host=self.api_host,
            port=self.api_port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        self._api_server = uvicorn.Server(config)
        self._api_server.install_signal_handlers = lambda: None
        self._tasks.append(loop.create_task(self._api_server.serve(), name="api"))
        for _ in range(100):
            if self._api_server.started:
                self.api_url = f"http://{self.api_host}:{self.api_port}"
                return
            await asyncio.sleep(0.05)
        log.warning("the API did not start (port in use?); the engines run without it", port=self.api_port)

    async def stop(self) -> None:
        if self.data is not None:
            self.data.stopping = True
        if self._api_server is not None:
            self._api_server.should_exit = True
        if self.trading is not None:
            await self.trading.stop()
        if self.execution is not None:
            await close_execution(self.execution)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        if self._data_venue is not None:
            with contextlib.suppress(Exception):
                await self._data_venue.close()
        if self.sim is not None:
            await self.sim.stop()
