"""The simulator itself: signatures and timestamps like the real venues, admin endpoint, faults, WebSocket."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import aiohttp
import pytest

from smc_agent.core import errors
from smc_agent.core.ids import InstrumentId
from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeSimulator
from tests.live.conftest import order

EXPECTED_CODES = {
    "bad_secret": {"binance": "-1022", "bybit": "10004"},
    "bad_key": {"binance": "-2015", "bybit": "10003"},
    "old_timestamp": {"binance": "-1021", "bybit": "10002"},
}


async def _gateway(sim: ExchangeSimulator, venue: str, key: str, secret: str) -> CcxtGateway:
    return CcxtGateway(make_client(venue, base_url=sim.url, api_key=key, secret=secret), venue=venue)


@pytest.mark.parametrize("case", ["bad_secret", "bad_key"])
async def test_signature_and_key_are_checked(sim: ExchangeSimulator, venue: str, case: str) -> None:
    key, secret = (
        (DEFAULT_API_KEY, "wrong-secret") if case == "bad_secret" else ("nobody", DEFAULT_API_SECRET)
    )
    gw = await _gateway(sim, venue, key, secret)
    try:
        with pytest.raises(errors.AuthenticationError) as info:
            await gw.fetch_balances()
    finally:
        await gw.close()
    assert EXPECTED_CODES[case][venue] in str(info.value)


async def test_stale_timestamp_is_refused(sim: ExchangeSimulator, venue: str) -> None:
    gw = await _gateway(sim, venue, DEFAULT_API_KEY, DEFAULT_API_SECRET)
    real_nonce = gw.exchange.nonce
    gw.exchange.nonce = lambda: real_nonce() - 60_000  # a client clock one minute behind
    try:
        with pytest.raises(errors.RetryableError) as info:
            await gw.fetch_balances()
    finally:
        await gw.close()
    assert EXPECTED_CODES["old_timestamp"][venue] in str(info.value)


async def test_admin_endpoint_steps_injects_faults_and_counts(
    sim: ExchangeSimulator, gateway: CcxtGateway
) -> None:
    iid = InstrumentId(gateway.venue, "BTC/USDT")
    async with aiohttp.ClientSession() as http:
        before = sim.state.market_now
        async with http.post(f"{sim.url}/admin/step", json={"candles": 3}) as resp:
            body = await resp.json()
        assert body == {"closed": 3, "market_now": before + 3 * 60_000}
        async with http.post(f"{sim.url}/admin/fault", json={"stale": True}) as resp:
            assert resp.status == 200
        async with http.post(f"{sim.url}/admin/step", json={"candles": 3}) as resp:
            assert (await resp.json())["closed"] == 0  # frozen candles
        async with http.post(f"{sim.url}/admin/fault", json={"errors_5xx": 1, "clear": True}) as resp:
            assert resp.status == 200
        with pytest.raises(errors.VenueUnavailable):
            await gateway.fetch_ticker(iid)
        async with http.post(f"{sim.url}/admin/fault", json={"nonsense": 1}) as resp:
            assert resp.status == 400 and "nonsense" in (await resp.json())["error"]
        async with http.get(f"{sim.url}/admin/stats") as resp:
            stats = await resp.json()
    assert stats["venue"] == gateway.venue and stats["total"] >= 1


async def test_slow_fault_delays_answers(sim: ExchangeSimulator, gateway: CcxtGateway) -> None:
    iid = InstrumentId(gateway.venue, "BTC/USDT")
    await gateway.fetch_ticker(iid)
    sim.fault(slow_ms=400)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await gateway.fetch_ticker(iid)
    assert loop.time() - started >= 0.4


async def test_outage_through_admin_refuses_connections_then_recovers(
    sim: ExchangeSimulator, gateway: CcxtGateway
) -> None:
    iid = InstrumentId(gateway.venue, "BTC/USDT")
    async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/admin/fault", json={"down_s": 0.6}):
        pass
    await asyncio.sleep(0.1)
    with pytest.raises(errors.VenueUnavailable):
        await gateway.fetch_ticker(iid)
    await asyncio.sleep(0.8)
    assert (await gateway.fetch_ticker(iid))["last"] > 0


async def test_websocket_streams_closed_candles_and_order_updates_and_can_be_dropped(
    sim: ExchangeSimulator, gateway: CcxtGateway
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        await asyncio.sleep(0.05)
        sim.step(2)
        messages = [json.loads((await ws.receive(timeout=2)).data) for _ in range(2)]
        if gateway.venue == "binance":
            assert [m["k"]["x"] for m in messages] == [True, True]
            times = [m["k"]["t"] for m in messages]
        else:
            assert [m["data"][0]["confirm"] for m in messages] == [True, True]
            times = [m["data"][0]["start"] for m in messages]
        assert times[1] - times[0] == 60_000
        await sim.drop_websockets()
        closing = await ws.receive(timeout=2)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def test_gateway_resyncs_a_skewed_clock_and_retries(sim: ExchangeSimulator, venue: str) -> None:
    gw = await _gateway(sim, venue, DEFAULT_API_KEY, DEFAULT_API_SECRET)
    try:
        await gw.load_instruments()
        gw.exchange.options["timeDifference"] = 60_000  # the client believes it is a minute earlier
        balances = await gw.fetch_balances()
    finally:
        await gw.close()
    assert {b.currency for b in balances} >= {"BTC", "USDT"}
    assert abs(gw.exchange.options["timeDifference"]) < 5_000
    assert gw.calls_failed == 1  # the refused request, then the resync and the successful retry


async def test_a_client_that_dies_mid_request_places_nothing_and_leaves_no_traceback(
    sim: ExchangeSimulator, gateway: CcxtGateway, venue: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A killed engine's half-sent order request: no order, no error traceback, the venue keeps serving."""
    path = "/api/v3/order" if venue == "binance" else "/v5/order/create"
    _reader, writer = await asyncio.open_connection(sim.config.host, sim.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 500\r\n\r\nsymbol=BTCUSDT&side=BUY".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.1)  # the handler is now waiting for the rest of the body
    writer.transport.abort()  # the client dies (RST), as a SIGKILLed process does
    for _ in range(50):
        if sim.state.requests[path]:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert sim.state.requests[path] == 1
    assert sim.state.book.orders == {}
    assert not [r for r in caplog.records if r.levelname == "ERROR"], [r.getMessage() for r in caplog.records]
    assert await gateway.fetch_balances()  # still serving


async def test_trade_history_answers_a_bounded_range_like_the_venue(
    sim: ExchangeSimulator, gateway: CcxtGateway, venue: str
) -> None:
    # the venues bound a trade-history request: Binance spot 24 hours, Bybit 7 days (their API docs);
    # the reconciliation walks a range in such windows, so the simulator must hold its clients to them
    iid = InstrumentId(venue, "BTC/USDT")
    now = int(time.time() * 1000)
    cmd = dataclasses.replace(order(1, kind="market", qty="0.01", prefix="smc-h"), instrument_id=iid)
    filled = await gateway.submit_order(cmd)
    assert filled.filled_qty > 0
    window = gateway.history_limits.window_ms
    assert window == {"binance": 86_400_000, "bybit": 7 * 86_400_000}[venue]
    day = 86_400_000
    # since a time longer ago than the window, with no end: the window from it, which the fill is past
    assert await gateway.fetch_fills(iid, since_ms=now - window - day) == []
    assert len(await gateway.fetch_fills(iid, since_ms=now - window + 60_000)) == 1
    assert await gateway.fetch_fills(iid, since_ms=now - day // 2, until_ms=now - 60_000) == []
    assert len(await gateway.fetch_fills(iid, since_ms=now - day // 2, until_ms=now + 60_000)) == 1
    with pytest.raises(errors.SmcAgentError) as info:
        await gateway.fetch_fills(iid, since_ms=now - window - day, until_ms=now)
    assert {"binance": "-1127", "bybit": "10001"}[venue] in str(info.value)
