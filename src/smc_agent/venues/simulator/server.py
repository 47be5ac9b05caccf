"""The exchange simulator server: HTTP (Binance /api/v3 or Bybit /v5), WebSocket, admin, faults.

Usable in-process (``async with ExchangeSimulator(config) as sim: sim.url``; port 0 binds a free
port) and from the CLI (``smc-agent exchange-sim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

from smc_agent.logs import get_logger
from smc_agent.venues.simulator import binance_api, bybit_api
from smc_agent.venues.simulator.admin import apply_faults, register_admin
from smc_agent.venues.simulator.book import SimOrder
from smc_agent.venues.simulator.deadman import DeadManSwitch
from smc_agent.venues.simulator.faults import judge
from smc_agent.venues.simulator.feed import Bar, Feed
from smc_agent.venues.simulator.state import SimState, SimulatorConfig, wall_ms

ErrorFactory = Callable[..., web.Response]

log = get_logger("smc_agent.venues.simulator")


class ExchangeSimulator:
    """One simulated venue on one port."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.state = SimState.build(config)
        self.deadman = DeadManSwitch(self.state)
        if config.venue == "binance":
            self._api: binance_api.BinanceApi | bybit_api.BybitApi = binance_api.BinanceApi(
                self.state, self.deadman
            )
            self._error: ErrorFactory = binance_api.error_response
        else:
            self._api = bybit_api.BybitApi(self.state, self.deadman)
            self._error = bybit_api.error_response
        self.port = config.port
        self.down = False
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._clock_task: asyncio.Task[None] | None = None
        self.state.bar_listeners.append(self._on_bar)
        self.state.book.listeners.append(self._on_order)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/ws"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        self._api.register(app)
        register_admin(app, self)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/ws/{stream}", self._websocket)
        app.router.add_get("/v5/public/spot", self._websocket)
        app.router.add_get("/v5/private", self._websocket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._listen()
        if self.config.speed > 0:
            self._clock_task = asyncio.create_task(self._run_clock(), name=f"sim-clock-{self.config.venue}")

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.config.host, self.port, reuse_address=True)
        await self._site.start()
        self.port = int(self._runner.addresses[-1][1])  # the real port when 0 was asked for
        self.down = False

    async def stop(self) -> None:
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        self.deadman.close()
        await self.drop_websockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ExchangeSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- faults -----------------------------------------------------------------------------------
    async def go_down(self) -> None:
        """Close the listener: new connections are refused, kept-alive ones are reset."""
        self.down = True
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self.drop_websockets()

    async def come_up(self) -> None:
        if self.down:
            await self._listen()

    async def outage(self, seconds: float) -> None:
        await self.go_down()
        await asyncio.sleep(seconds)
        await self.come_up()

    def fault(self, **fields: Any) -> None:
        """Set fault fields (see ``Faults``); ``clear=True`` resets all first."""
        apply_faults(self, fields)

    async def drop_websockets(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        self._sockets.clear()

    # -- market clock -----------------------------------------------------------------------------
    def step(self, candles: int = 1) -> int:
        """Advance the market clock by whole base-feed candles; returns candles closed."""
        return self.state.advance(candles * self.state.base_tf_ms)

    def step_ms(self, ms: int) -> int:
        return self.state.advance(ms)

    async def _run_clock(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.state.advance(int((now - last) * 1000 * self.config.speed))
            last = now

    # -- HTTP plumbing ----------------------------------------------------------------------------
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/admin"):
            return await handler(request)
        if self.down:
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable
        self.state.record(request.path)
        faults = self.state.faults
        if faults.slow_ms:
            await asyncio.sleep(faults.slow_ms / 1000)
        verdict = judge(faults)
        if verdict.status:
            return self._error(verdict.kind, retry_after=verdict.retry_after)
        try:
            return await handler(request)
        except ConnectionResetError:
            # The client went away before its request was read (a killed engine, a dropped socket):
            # nothing happened here and nobody is left to answer, so no traceback for it.
            log.info("client disconnected before its request was read", path=request.path)
            return web.Response(status=499)

    # -- WebSocket ------------------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=10)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = ws_reply(msg.data)
                    if reply is not None:
                        await ws.send_str(reply)
        finally:
            self._sockets.discard(ws)
        return ws

    def _broadcast(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        for ws in list(self._sockets):
            if not ws.closed:
                asyncio.get_running_loop().create_task(ws.send_str(text))

    def _on_bar(self, feed: Feed, bar: Bar, closed: bool) -> None:
        if not self._sockets:
            return
        t = self.state.to_visible(bar.open_time)
        if self.config.venue == "binance":
            self._broadcast(
                {
                    "e": "kline",
                    "E": wall_ms(),
                    "s": feed.symbol,
                    "k": {
                        "t": t,
                        "T": t + feed.tf_ms - 1,
                        "s": feed.symbol,
                        "i": feed.timeframe,
                        "o": str(bar.open),
                        "c": str(bar.close),
                        "h": str(bar.high),
                        "l": str(bar.low),
                        "v": str(bar.volume),
                        "x": closed,
                    },
                }
            )
        else:
            interval = bybit_api.INTERVALS[feed.timeframe]
            self._broadcast(
                {
                    "topic": f"kline.{interval}.{feed.symbol}",
                    "type": "snapshot",
                    "ts": wall_ms(),
                    "data": [
                        {
                            "start": t,
                            "end": t + feed.tf_ms - 1,
                            "interval": interval,
                            "open": str(bar.open),
                            "close": str(bar.close),
                            "high": str(bar.high),
                            "low": str(bar.low),
                            "volume": str(bar.volume),
                            "confirm": closed,
                            "timestamp": wall_ms(),
                        }
                    ],
                }
            )

    def _on_order(self, order: SimOrder) -> None:
        if not self._sockets:
            return
        if self.config.venue == "binance":
            self._broadcast(
                {
                    "e": "executionReport",
                    "E": wall_ms(),
                    "s": order.symbol,
                    "c": order.client_id,
                    "S": order.side,
                    "o": binance_api.order_type(order),
                    "q": str(order.qty),
                    "p": str(order.price or 0),
                    "P": str(order.trigger_price or 0),
                    "X": order.status,
                    "i": order.order_id,
                    "z": str(order.filled),
                    "Z": str(order.quote_filled),
                    "T": order.updated_ms,
                }
            )
        else:
            self._broadcast(
                {
                    "topic": "order",
                    "creationTime": wall_ms(),
                    "data": [bybit_api.BybitApi._order(order) | {"category": "spot"}],
                }
            )


def ws_reply(text: str) -> str | None:
    """Answer a client's WebSocket control message as the venue would (subscriptions are implicit:
    every socket receives every candle and order update of this simulator)."""
    if text == "ping":
        return "pong"
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    if not isinstance(msg, dict):
        return None
    if msg.get("method") in ("SUBSCRIBE", "UNSUBSCRIBE"):  # Binance
        return json.dumps({"result": None, "id": msg.get("id")})
    op = msg.get("op")
    if op in ("subscribe", "unsubscribe", "auth"):  # Bybit
        return json.dumps(
            {"success": True, "ret_msg": "", "conn_id": "sim", "req_id": msg.get("req_id"), "op": op}
        )
    if op == "ping":
        return json.dumps(
            {"success": True, "ret_msg": "pong", "conn_id": "sim", "req_id": msg.get("req_id"), "op": "ping"}
        )
    return None
