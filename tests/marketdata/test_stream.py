"""The live candle stream: closed candles only, in order, backfilled after a reconnect, staleness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from smc_agent.core.candle import Candle
from smc_agent.core.errors import VenueUnavailable
from smc_agent.core.ids import InstrumentId
from smc_agent.marketdata.stream import LiveCandleStream
from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator
from tests.venues.simkit import sim_config

M = 60_000


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sim_and_gateway() -> AsyncIterator[tuple[ExchangeSimulator, CcxtGateway]]:
    async with ExchangeSimulator(sim_config("binance")) as sim:
        gw = CcxtGateway(make_client("binance", base_url=sim.url, timeout_ms=1000), venue="binance")
        try:
            yield sim, gw
        finally:
            await gw.close()


async def test_only_closed_candles_in_order_and_backfill_after_reconnect(
    sim_and_gateway: tuple[ExchangeSimulator, CcxtGateway],
) -> None:
    sim, gw = sim_and_gateway
    forming = sim.state.to_visible(sim.state.feeds["BTCUSDT"].bars[500].open_time)
    stream = LiveCandleStream(lambda: gw, "BTC/USDT", "1m", start_after_ms=forming - 6 * M)
    first = await stream.poll_once()
    assert [c.open_time for c in first] == [forming - 5 * M + i * M for i in range(5)]  # not the forming one
    assert await stream.poll_once() == []  # nothing new, nothing repeated
    await sim.go_down()
    with pytest.raises(VenueUnavailable):
        await stream.poll_once()
    sim.step(7)  # the market moves on while we are cut off
    await sim.come_up()
    backfill = await stream.poll_once()
    assert [c.open_time for c in backfill] == [forming + i * M for i in range(7)]
    bars = sim.state.feeds["BTCUSDT"].bars[500:507]
    assert [c.close for c in backfill] == [float(b.close) for b in bars]


async def test_staleness_when_candles_freeze(sim_and_gateway: tuple[ExchangeSimulator, CcxtGateway]) -> None:
    sim, gw = sim_and_gateway
    clock = Clock()
    stream = LiveCandleStream(lambda: gw, "BTC/USDT", "1m", stale_after_s=5, monotonic=clock)
    await stream.poll_once()
    sim.fault(stale=True)
    sim.step(3)
    clock.now += 6
    assert await stream.poll_once() == []
    assert stream.stale and stream.status()["stale"] is True
    sim.fault(stale=False)
    sim.step(1)
    assert len(await stream.poll_once()) == 1
    assert not stream.stale


class HoleySource:
    venue = "binance"

    def __init__(self, candles: list[Candle]) -> None:
        self.candles = candles

    async def fetch_candles(
        self,
        instrument_id: InstrumentId,
        timeframe: str,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Candle]:
        return [c for c in self.candles if since_ms is None or c.open_time >= since_ms][: limit or 1000]


async def test_holes_the_venue_cannot_fill_are_reported_and_duplicates_dropped() -> None:
    def candle(i: int) -> Candle:
        return Candle("binance", "BTC/USDT", "1m", i * M, 1.0, 2.0, 0.5, 1.5, 1.0)

    source = HoleySource([candle(0), candle(1), candle(1), candle(4), candle(5)])
    stream = LiveCandleStream(lambda: source, "BTC/USDT", "1m")
    got = await stream.poll_once()
    assert [c.open_time for c in got] == [0, M, 4 * M, 5 * M]
    assert stream.gaps == [(2 * M, 2)]


async def test_candles_iterator_retries_through_outages(
    sim_and_gateway: tuple[ExchangeSimulator, CcxtGateway],
) -> None:
    sim, gw = sim_and_gateway
    stream = LiveCandleStream(lambda: gw, "BTC/USDT", "1m", poll_interval_s=0.05)
    sim.fault(errors_5xx=2)
    it = stream.candles()
    first = await anext(it)
    assert stream.errors == 2 and first.open_time > 0
    await it.aclose()
