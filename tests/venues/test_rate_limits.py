"""429 then 418: the gateway honours Retry-After, then sends nothing to the venue until the ban lifts."""

from __future__ import annotations

import asyncio
import time

import pytest

from smc_agent.core import errors
from smc_agent.core.ids import InstrumentId
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator


async def test_429_then_418_ban_stops_all_traffic_until_it_lifts(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    iid = InstrumentId(gateway.venue, "BTC/USDT")
    await gateway.load_instruments()
    sim.fault(rate_limit_429=1, retry_after_s=1, ban_seconds=1.5)
    before = sum(sim.state.requests.values())
    started = time.monotonic()
    with pytest.raises(errors.BannedError) as info:
        await gateway.fetch_ticker(iid)
    assert time.monotonic() - started >= 1.0  # waited out Retry-After before the second try
    assert sum(sim.state.requests.values()) == before + 2  # the 429 and the 418, nothing else
    assert info.value.until is not None
    banned_at = time.monotonic()
    sent = sum(sim.state.requests.values())
    for call in (gateway.fetch_ticker(iid), gateway.fetch_balances(), gateway.fetch_candles(iid, "1m")):
        with pytest.raises(errors.BannedError):
            await call
    assert sum(sim.state.requests.values()) == sent  # refused locally: nothing reached the venue
    wait_s = info.value.until / 1000 - time.time()
    await asyncio.sleep(max(wait_s, 0) + 0.05)
    assert (await gateway.fetch_ticker(iid))["last"] > 0
    first_after = min(t for t, _ in sim.state.request_log if t > banned_at)
    assert first_after - banned_at >= 1.4  # silent for the whole 1.5 s ban


async def test_rate_limit_is_retried_after_retry_after(gateway: CcxtGateway, sim: ExchangeSimulator) -> None:
    iid = InstrumentId(gateway.venue, "BTC/USDT")
    await gateway.load_instruments()
    sim.fault(rate_limit_429=2, retry_after_s=1)
    started = time.monotonic()
    candles = await gateway.fetch_candles(iid, "1m", limit=5)
    assert len(candles) == 5
    assert time.monotonic() - started >= 2.0
    assert not gateway.throttle.banned


async def test_persistent_rate_limit_surfaces_as_rate_limited(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    iid = InstrumentId(gateway.venue, "BTC/USDT")
    await gateway.load_instruments()
    gateway.max_rate_limit_retries = 0
    sim.fault(rate_limit_429=1, retry_after_s=3)
    with pytest.raises(errors.RateLimited) as info:
        await gateway.fetch_ticker(iid)
    assert info.value.retry_after == 3
