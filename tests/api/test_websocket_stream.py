"""/ws carries what the engines say on their streams: an order event, a fill and the position after
it reach the owner of the order's bot (and nobody else, admins included, as in the REST API); closed
candles reach every client. Before, nothing but ``trading_state`` and ``venue`` was ever sent: the
events and candles streams were read by the trading engine only.

Both layouts: separate processes (the websocket-service follows the Redis streams) and the
all-in-one runtime (the app follows the in-process bus it is given)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi.testclient import TestClient

from smc_agent.api.app import create_app
from smc_agent.api.bus import LocalBus
from smc_agent.bootstrap import Container
from smc_agent.core.candle import Candle
from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderStatus, OrderType
from smc_agent.core.events import OrderAccepted, OrderFilled
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from smc_agent.core.ports import OrderReport
from smc_agent.live.codec import encode, encode_candle
from smc_agent.live.streams import CANDLES_STREAM, EVENTS_STREAM, MemoryStreamBus, RedisStreamBus
from smc_agent.store.trading_repo import TradingRepo
from tests.api.conftest import PASSWORD, build_container
from tests.api.server import free_port

BTC = InstrumentId("binance", "BTC/USDT")
Publish = Callable[[str, dict[str, str]], Any]


@dataclass
class Layout:
    container: Container
    app_kwargs: dict[str, Any]
    publish: Publish
    close: Callable[[], Any] | None = None  # on the test's event loop


@pytest.fixture(params=["redis-streams", "in-process"])
def layout(request: pytest.FixtureRequest, api_sqlite_url: str, tmp_path: Path) -> Iterator[Layout]:
    if request.param == "in-process":
        memory = MemoryStreamBus()
        container = build_container(api_sqlite_url, tmp_path)
        yield Layout(container, {"streams": memory, "bus": LocalBus()}, memory.publish)
        container.close()
        return
    redis_pair = request.getfixturevalue("redis_pair")
    control_url, session_url = redis_pair
    container = build_container(api_sqlite_url, tmp_path, control_url, int(session_url.rsplit("/", 1)[1]))
    streams = RedisStreamBus(control_url)  # what the execution engine and data pipeline write to
    yield Layout(container, {"roles": ("ws",)}, streams.publish, streams.close)
    container.close()


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The app under uvicorn on this test's event loop (the in-process bus is not thread-safe)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def _login(container: Container) -> dict[str, str]:
    api = create_app(container, roles=("api",), watch_control=False)  # the api-gateway
    with TestClient(api) as client:
        return {
            who: client.post("/v1/auth/login", json={"username": who, "password": PASSWORD}).json()["token"]
            for who in ("alice", "bob", "admin")
        }


def _alices_filled_order(container: Container) -> tuple[str, ClientOrderId]:
    """A bot of alice's with an order the execution engine wrote and saw filled (order, trade and
    position rows, as before it publishes the fill)."""
    repo = TradingRepo(container.session_factory)
    bot = repo.create_bot(
        user_id="usr_alice",
        name="a",
        strategy="drill",
        venue="binance",
        symbols=["BTC/USDT"],
        timeframes=["1m"],
    )
    now = int(time.time() * 1000)
    cid = ClientOrderId("smc-ws-1")
    cmd = SubmitOrder(
        ts_event=now,
        ts_init=now,
        strategy_id=StrategyId(bot),
        instrument_id=BTC,
        client_order_id=cid,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.5"),
        price=Decimal(30000),
    )
    assert repo.record_intent(cmd, bot_id=bot)
    repo.apply_report(
        OrderReport(
            instrument_id=BTC,
            client_order_id=cid,
            venue_order_id=VenueOrderId("v-1"),
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            status=OrderStatus.FILLED,
            qty=Decimal("0.5"),
            filled_qty=Decimal("0.5"),
            price=Decimal(30000),
            avg_fill_price=Decimal(30000),
            ts_event=now,
        )
    )
    return bot, cid


async def _connect(address: str, token: str) -> Any:
    ws = await websockets.connect(
        f"ws://{address}/ws", additional_headers={"Authorization": f"Bearer {token}"}
    )
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def _until(ws: Any, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Messages up to and including the first for which ``done`` holds."""
    out: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        for message in frame if isinstance(frame, list) else [frame]:
            out.append(message)
            if done(message):
                return out


async def _first_candle_through(layout: Layout, ws: Any, minute: int) -> int:
    """The relay follows the streams from their end on: candles until one reaches ``ws`` (its minute)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await layout.publish(CANDLES_STREAM, _candle(minute))
        try:
            await asyncio.wait_for(_until(ws, _is_candle(minute)), 0.5)
            return minute
        except TimeoutError:
            minute += 1
    raise AssertionError("no candle of the candles stream reached /ws in 10 s")


def _candle(minute: int) -> dict[str, str]:
    return encode_candle(Candle("binance", "BTC/USDT", "1m", minute * 60_000, 1.0, 2.0, 0.5, 1.5, 10.0))


def _is_candle(minute: int) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("channel") == "candles" and m["data"]["time"] == minute * 60


async def test_order_events_fills_and_positions_reach_only_their_owner(layout: Layout) -> None:
    bot, cid = _alices_filled_order(layout.container)
    tokens = _login(layout.container)
    app = create_app(layout.container, watch_control=False, **layout.app_kwargs)
    async with serving(app) as address:
        alice, bob, admin = [await _connect(address, tokens[w]) for w in ("alice", "bob", "admin")]
        minute = await _first_candle_through(layout, alice, 1000)
        base = {"ts_event": 1, "ts_init": 1, "strategy_id": StrategyId(bot), "instrument_id": BTC}
        accepted = OrderAccepted(**base, client_order_id=cid, venue_order_id=VenueOrderId("v-1"))
        filled = OrderFilled(
            **base,
            client_order_id=cid,
            venue_order_id=VenueOrderId("v-1"),
            trade_id=TradeId("t-1"),
            side=OrderSide.BUY,
            qty=Decimal("0.5"),
            price=Decimal(30000),
            fee=Decimal("0.1"),
            fee_currency="USDT",
            liquidity=LiquiditySide.MAKER,
        )
        nobodys = OrderAccepted(  # no order row, no bot: no owner, so shown to nobody
            **{**base, "strategy_id": StrategyId("manual")}, client_order_id=ClientOrderId("smc-ws-x")
        )
        for event in (nobodys, accepted, filled):
            await layout.publish(EVENTS_STREAM, encode(event))

        got = [
            m for m in await _until(alice, lambda m: m["channel"] == "positions") if m["channel"] != "candles"
        ]
        assert [(m["channel"], m["user_id"], m["data"]["type"]) for m in got[:2]] == [
            ("orders", "usr_alice", "OrderAccepted"),
            ("trades", "usr_alice", "OrderFilled"),
        ]
        assert got[0]["data"]["client_order_id"] == cid and got[0]["data"]["bot_id"] == bot
        assert Decimal(got[1]["data"]["qty"]) == Decimal("0.5")
        position = got[2]["data"]
        assert (position["bot_id"], position["symbol"], Decimal(position["quantity"])) == (
            bot,
            "BTC/USDT",
            Decimal("0.5"),
        )
        # a public end marker: whatever alice got was fanned out to every client before it
        await layout.publish(CANDLES_STREAM, _candle(minute + 1))
        assert (await _until(alice, _is_candle(minute + 1)))[-1]["data"]["close"] == 1.5
        for other in (bob, admin):  # another user, even an admin, sees none of alice's
            seen = await _until(other, _is_candle(minute + 1))
            assert {m["channel"] for m in seen} == {"candles"}, seen
        for ws in (alice, bob, admin):
            await ws.close()
    if layout.close is not None:
        await layout.close()


async def test_a_back_filled_candle_is_not_sent_as_live(layout: Layout) -> None:
    tokens = _login(layout.container)
    app = create_app(layout.container, watch_control=False, **layout.app_kwargs)
    async with serving(app) as address:
        alice = await _connect(address, tokens["alice"])
        minute = await _first_candle_through(layout, alice, 2000)
        old = Candle("binance", "BTC/USDT", "1m", 60_000, 1.0, 2.0, 0.5, 1.5, 10.0)
        await layout.publish(CANDLES_STREAM, encode_candle(old, history=True))
        await layout.publish(CANDLES_STREAM, _candle(minute + 1))
        assert [m["data"]["time"] for m in await _until(alice, _is_candle(minute + 1))] == [(minute + 1) * 60]
        await alice.close()
    if layout.close is not None:
        await layout.close()
