"""Exchange simulators on loopback and execution engines wired to real PostgreSQL / Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.live.execution_service import ExecutionOptions
from smc_agent.live.wiring import ExecutionConfig
from smc_agent.venues.simulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeSimulator, SimulatorConfig
from smc_agent.venues.simulator.feed import Feed
from tests.venues.simkit import synthetic_bars

BTC = InstrumentId("binance", "BTC/USDT")


def simulator_config(**overrides: object) -> SimulatorConfig:
    feed = Feed("BTCUSDT", "1m", synthetic_bars(800))
    base: dict[str, object] = {
        "venue": "binance",
        "feeds": (feed,),
        "start_index": 500,
        "balances": (("USDT", Decimal(10_000_000)), ("BTC", Decimal(100))),
    }
    base.update(overrides)
    return SimulatorConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async with ExchangeSimulator(simulator_config()) as simulator:
        yield simulator


def execution_config(
    database_url: str, redis_url: str | None, sim: ExchangeSimulator, **options: object
) -> ExecutionConfig:
    return ExecutionConfig(
        database_url=database_url,
        redis_url=redis_url,
        venue="binance",
        venue_url=sim.url,
        api_key=DEFAULT_API_KEY,
        secret=DEFAULT_API_SECRET,
        ccxt_timeout_ms=1_500,
        venue_timeout_s=5.0,
        options=ExecutionOptions(freshness_symbols=("BTC/USDT",), **options),  # type: ignore[arg-type]
    )


def order(
    n: int,
    *,
    side: OrderSide = OrderSide.BUY,
    kind: str = "limit",
    qty: str = "0.001",
    price: str = "30000",
    prefix: str = "smc-t",
) -> SubmitOrder:
    now = int(time.time() * 1000)
    market = kind == "market"
    return SubmitOrder(
        ts_event=now,
        ts_init=now,
        strategy_id=StrategyId("test"),
        instrument_id=BTC,
        client_order_id=ClientOrderId(f"{prefix}-{n:08d}"),
        side=side,
        order_type=OrderType.MARKET if market else OrderType.LIMIT,
        qty=Decimal(qty),
        price=None if market else Decimal(price),
        reference_price=Decimal("40000"),
    )


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
