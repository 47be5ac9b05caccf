"""Simulators on loopback ports and gateways (unmodified ccxt) pointed at them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeSimulator
from tests.venues.simkit import sim_config


@pytest.fixture(params=["binance", "bybit"])
def venue(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sim(venue: str) -> AsyncIterator[ExchangeSimulator]:
    async with ExchangeSimulator(sim_config(venue)) as simulator:
        yield simulator


@contextlib.asynccontextmanager
async def open_gateway(sim: ExchangeSimulator, venue: str) -> AsyncIterator[CcxtGateway]:
    """A gateway (unmodified ccxt) pointed at ``sim``, closed on exit."""
    exchange = make_client(
        venue, base_url=sim.url, api_key=DEFAULT_API_KEY, secret=DEFAULT_API_SECRET, timeout_ms=3000
    )
    gw = CcxtGateway(exchange, venue=venue)
    try:
        yield gw
    finally:
        await gw.close()


@pytest.fixture
async def gateway(sim: ExchangeSimulator, venue: str) -> AsyncIterator[CcxtGateway]:
    async with open_gateway(sim, venue) as gw:
        yield gw
