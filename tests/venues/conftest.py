"""Simulators on loopback ports and gateways (unmodified ccxt) pointed at them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeSimulator, SimulatorConfig
from smc_agent.venues.simulator.feed import Bar, Feed

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def synthetic_bars(n: int = 800, tf_ms: int = 60_000, seed: int = 7, price: float = 40_000.0) -> list[Bar]:
    """A deterministic random walk of valid candles (no shared data needed)."""
    rng = random.Random(seed)
    bars = []
    for i in range(n):
        o = price
        c = round(o * (1 + rng.uniform(-0.004, 0.004)), 2)
        h = round(max(o, c) * (1 + rng.uniform(0, 0.002)), 2)
        low = round(min(o, c) * (1 - rng.uniform(0, 0.002)), 2)
        bars.append(
            Bar(
                START_MS + i * tf_ms,
                Decimal(str(o)),
                Decimal(str(h)),
                Decimal(str(low)),
                Decimal(str(c)),
                Decimal(str(round(rng.uniform(1, 50), 4))),
            )
        )
        price = c
    return bars


def sim_config(venue: str, **overrides: object) -> SimulatorConfig:
    feed = Feed("BTCUSDT", "1m", synthetic_bars())
    return SimulatorConfig(venue=venue, feeds=(feed,), start_index=500, **overrides)  # type: ignore[arg-type]


@pytest.fixture(params=["binance", "bybit"])
def venue(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sim(venue: str) -> AsyncIterator[ExchangeSimulator]:
    async with ExchangeSimulator(sim_config(venue)) as simulator:
        yield simulator


@pytest.fixture
async def gateway(sim: ExchangeSimulator, venue: str) -> AsyncIterator[CcxtGateway]:
    exchange = make_client(
        venue, base_url=sim.url, api_key=DEFAULT_API_KEY, secret=DEFAULT_API_SECRET, timeout_ms=3000
    )
    gw = CcxtGateway(exchange, venue=venue)
    try:
        yield gw
    finally:
        await gw.close()
