"""The live stream woken by the venue's WebSocket (unmodified ccxt.pro ``watch_ohlcv``), REST for the
closed candles; a dropped socket does not lose candles."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from smc_agent.core.candle import Candle
from smc_agent.marketdata.stream import LiveCandleStream
from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator
from tests.venues.simkit import sim_config

POLL_S = 4.0  # REST fallback interval: far longer than the candle rhythm below


@pytest.mark.parametrize("venue", ["binance", "bybit"])
async def test_websocket_wakes_the_stream_and_a_dropped_socket_loses_nothing(venue: str) -> None:
    async with ExchangeSimulator(sim_config(venue)) as sim:
        gw = CcxtGateway(make_client(venue, base_url=sim.url, streaming=True, timeout_ms=2000), venue=venue)
        assert gw.can_watch
        stream = LiveCandleStream(
            lambda: gw,
            "BTC/USDT",
            "1m",
            start_after_ms=sim.state.market_now - 4 * 60_000,
            poll_interval_s=POLL_S,
            use_websocket=True,
        )
        received: list[Candle] = list(await stream.poll_once())  # caught up

        async def step_every(seconds: float) -> None:
            while True:
                await asyncio.sleep(seconds)
                sim.step(1)

        stepper = asyncio.create_task(step_every(0.25))
        it = stream.candles()
        loop = asyncio.get_running_loop()
        try:
            started = loop.time()
            async with asyncio.timeout(POLL_S):
                while len(received) < 6:
                    received.append(await anext(it))
            assert loop.time() - started < POLL_S * 0.75  # woken by the socket, not the REST interval
            assert stream.ws_wakeups >= 2
            await sim.drop_websockets()
            async with asyncio.timeout(3 * POLL_S):
                for _ in range(3):
                    received.append(await anext(it))
        finally:
            stepper.cancel()
            await it.aclose()
            await gw.close()
    times = [c.open_time for c in received]
    assert all(b - a == 60_000 for a, b in itertools.pairwise(times)), "gap or duplicate"
    assert times[-1] < sim.state.market_now - 60_000 + 1  # closed candles only
