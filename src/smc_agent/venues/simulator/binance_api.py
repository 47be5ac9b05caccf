"""Binance spot ``/api/v3`` as the simulator speaks it (shapes follow the recorded fixtures)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from smc_agent.venues.simulator.auth import signature_ok, split_binance_signature, timestamp_window_ok
from smc_agent.venues.simulator.book import DAY_MS, SimError, SimOrder, SimTrade, history_window
from smc_agent.venues.simulator.deadman import DeadManSwitch
from smc_agent.venues.simulator.feed import TIMEFRAME_MS, Bar
from smc_agent.venues.simulator.state import SimState, wall_ms

Handler = Callable[[web.Request, dict[str, str]], Awaitable[Any]]

# simulator refusal kind -> (HTTP status, Binance code, message)
ERRORS: dict[str, tuple[int, int, str]] = {
    "insufficient_balance": (400, -2010, "Account has insufficient balance for requested action."),
    "duplicate_client_id": (400, -2010, "Duplicate order sent."),
    "rejected": (400, -2010, "Order was rejected by the exchange (simulated fault)."),
    "unknown_order_cancel": (400, -2011, "Unknown order sent."),
    "unknown_order": (400, -2013, "Order does not exist."),
    "lot_size": (400, -1013, "Filter failure: LOT_SIZE"),
    "price_filter": (400, -1013, "Filter failure: PRICE_FILTER"),
    "min_notional": (400, -1013, "Filter failure: NOTIONAL"),
    "unknown_symbol": (400, -1121, "Invalid symbol."),
    "would_trigger": (400, -2010, "Stop price would trigger immediately."),
    "oco_prices": (400, -2010, "The relationship of the prices for the orders is not correct."),
    "bad_order_type": (400, -1116, "Invalid orderType."),
    "bad_param": (400, -1102, "Mandatory parameter was not sent, was empty/null, or malformed."),
    "history_window": (400, -1127, "More than 24 hours between startTime and endTime."),
    "timestamp": (400, -1021, "Timestamp for this request is outside of the recvWindow."),
    "signature": (400, -1022, "Signature for this request is not valid."),
    "api_key": (401, -2015, "Invalid API-key, IP, or permissions for action."),
    "rate_limited": (429, -1003, "Too many requests; current limit is 6000 request weight per 1 MINUTE."),
    "banned": (418, -1003, "Way too much request weight used; IP banned until {until}."),
    "unavailable": (503, -1001, "Internal error; unable to process your request. Please try again."),
}
INTERVALS = {tf: tf for tf in TIMEFRAME_MS}
# Binance spot order type -> (what it executes as, whether it waits for a stopPrice)
ORDER_TYPES: dict[str, tuple[str, bool]] = {
    "MARKET": ("MARKET", False),
    "LIMIT": ("LIMIT", False),
    "STOP_LOSS": ("MARKET", True),
    "STOP_LOSS_LIMIT": ("LIMIT", True),
}


def order_type(o: SimOrder) -> str:
    """The Binance spot type of a simulator order (stops: STOP_LOSS / STOP_LOSS_LIMIT; the target leg of
    an OCO list: LIMIT_MAKER, or TAKE_PROFIT when it waits for its price to rise (a sell) or fall)."""
    if o.is_stop:
        take_profit = o.list_id >= 0 and o.trigger_direction == (1 if o.side == "SELL" else 2)
        kind = "TAKE_PROFIT" if take_profit else "STOP_LOSS"
        return f"{kind}_LIMIT" if o.type == "LIMIT" else kind
    if o.list_id >= 0:
        return "LIMIT_MAKER"
    return o.type


def d8(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):.8f}"


def error_response(kind: str, detail: str = "", retry_after: int = 0) -> web.Response:
    status, code, msg = ERRORS[kind]
    if kind == "banned":
        msg = msg.format(until=wall_ms() + retry_after * 1000)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    if status >= 500:
        return web.Response(status=status, text="Service Unavailable", headers=headers)
    # Binance's messages are fixed strings (ccxt matches some exactly): the detail goes in a header
    if detail:
        headers = {**(headers or {}), "X-Sim-Detail": detail[:200]}
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


class BinanceApi:
    """Route handlers for one simulator instance."""

    def __init__(self, state: SimState, deadman: DeadManSwitch) -> None:
        self.state = state
        self.deadman = deadman

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v3/ping", self._public(self.ping))
        r.add_get("/api/v3/time", self._public(self.time))
        r.add_get("/api/v3/exchangeInfo", self._public(self.exchange_info))
        r.add_get("/api/v3/klines", self._public(self.klines))
        r.add_get("/api/v3/ticker/24hr", self._public(self.ticker))
        r.add_get("/api/v3/depth", self._public(self.depth))
        r.add_get("/api/v3/account", self._signed(self.account))
        r.add_post("/api/v3/order", self._signed(self.new_order))
        r.add_delete("/api/v3/order", self._signed(self.cancel_order))
        r.add_post("/api/v3/orderList/oco", self._signed(self.new_oco))
        r.add_get("/api/v3/order", self._signed(self.get_order))
        r.add_get("/api/v3/openOrders", self._signed(self.open_orders))
        r.add_get("/api/v3/allOrders", self._signed(self.all_orders))
        r.add_get("/api/v3/myTrades", self._signed(self.my_trades))
        r.add_post("/fapi/v1/countdownCancelAll", self._signed(self.countdown_cancel_all))

    # -- plumbing -----------------------------------------------------------------------------
    def _public(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            return await self._run(handler, request, dict(request.query))

        return run

    def _signed(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            body = await request.text()
            payload, signature = split_binance_signature(request.rel_url.raw_query_string + body)
            params = dict(request.query)
            if body:
                params.update({k: str(v) for k, v in (await request.post()).items()})
            secret = dict(self.state.config.api_keys).get(request.headers.get("X-MBX-APIKEY", ""))
            if secret is None:
                return error_response("api_key")
            if signature is None or not signature_ok(secret, payload, signature):
                return error_response("signature")
            try:
                ts, window = int(params["timestamp"]), int(params.get("recvWindow", "5000"))
            except (KeyError, ValueError):
                return error_response("bad_param", "timestamp")
            if not timestamp_window_ok(ts, wall_ms(), window):
                return error_response("timestamp")
            return await self._run(handler, request, params)

        return run

    async def _run(
        self, handler: Handler, request: web.Request, params: dict[str, str]
    ) -> web.StreamResponse:
        try:
            result = await handler(request, params)
        except SimError as exc:
            return error_response(exc.kind, exc.detail)
        except (KeyError, ValueError, InvalidOperation) as exc:
            return error_response("bad_param", str(exc))
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result)

    def _symbol(self, params: dict[str, str]) -> str:
        symbol = params.get("symbol", "")
        if symbol not in self.state.feeds:
            raise SimError("unknown_symbol", symbol)
        return symbol

    # -- public -------------------------------------------------------------------------------
    async def ping(self, _r: web.Request, _p: dict[str, str]) -> dict[str, Any]:
        return {}

    async def time(self, _r: web.Request, _p: dict[str, str]) -> dict[str, Any]:
        return {"serverTime": wall_ms()}

    async def exchange_info(self, _r: web.Request, _p: dict[str, str]) -> dict[str, Any]:
        symbols = []
        for spec in self.state.specs.values():
            symbols.append(
                {
                    "symbol": spec.symbol,
                    "status": "TRADING",
                    "baseAsset": spec.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": spec.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": [
                        "LIMIT",
                        "LIMIT_MAKER",
                        "MARKET",
                        "STOP_LOSS",
                        "STOP_LOSS_LIMIT",
                        "TAKE_PROFIT",
                    ],
                    "icebergAllowed": False,
                    "ocoAllowed": False,
                    "quoteOrderQtyMarketAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": d8(spec.tick_size),
                            "maxPrice": "1000000.00000000",
                            "tickSize": d8(spec.tick_size),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": d8(spec.min_qty),
                            "maxQty": d8(spec.max_qty),
                            "stepSize": d8(spec.step_size),
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": d8(spec.min_notional),
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                    ],
                    "permissions": ["SPOT"],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": wall_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    async def klines(self, _r: web.Request, p: dict[str, str]) -> list[list[Any]]:
        feed = self.state.feeds[self._symbol(p)]
        if p.get("interval") != feed.timeframe:
            raise SimError("bad_param", f"interval {p.get('interval')} not served (have {feed.timeframe})")
        limit = min(int(p.get("limit", "500")), 1000)
        start = self.state.to_data(int(p["startTime"])) if "startTime" in p else None
        end = self.state.to_data(int(p["endTime"])) if "endTime" in p else None
        bars = feed.window(self.state.data_now, start, end, limit)
        return [self._kline(b, feed.tf_ms) for b in bars]

    def _kline(self, b: Bar, tf_ms: int) -> list[Any]:
        t = self.state.to_visible(b.open_time)
        return [
            t,
            d8(b.open),
            d8(b.high),
            d8(b.low),
            d8(b.close),
            d8(b.volume),
            t + tf_ms - 1,
            d8(b.volume * b.close),
            100,
            d8(b.volume / 2),
            d8(b.volume * b.close / 2),
            "0",
        ]

    async def ticker(self, _r: web.Request, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        feed = self.state.feeds[symbol]
        now = self.state.data_now
        bars = feed.window(now, now - 86_400_000, None, 100_000)
        last = feed.last_price(now)
        first = bars[0].open if bars else last
        high = max((b.high for b in bars), default=last)
        low = min((b.low for b in bars), default=last)
        vol = sum((b.volume for b in bars), Decimal(0))
        spread = self.state.specs[symbol].tick_size
        return {
            "symbol": symbol,
            "priceChange": d8(last - first),
            "priceChangePercent": f"{((last - first) / first * 100):.3f}" if first else "0.000",
            "weightedAvgPrice": d8(last),
            "prevClosePrice": d8(first),
            "lastPrice": d8(last),
            "lastQty": "0.01000000",
            "bidPrice": d8(last - spread),
            "bidQty": "1.00000000",
            "askPrice": d8(last + spread),
            "askQty": "1.00000000",
            "openPrice": d8(first),
            "highPrice": d8(high),
            "lowPrice": d8(low),
            "volume": d8(vol),
            "quoteVolume": d8(vol * last),
            "openTime": self.state.market_now - 86_400_000,
            "closeTime": self.state.market_now,
            "firstId": 1,
            "lastId": 100,
            "count": 100,
        }

    async def depth(self, _r: web.Request, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        limit = min(int(p.get("limit", "100")), 5000)
        last = self.state.last_price(symbol)
        tick = self.state.specs[symbol].tick_size
        mid = (last / tick).quantize(Decimal(1)) * tick
        bids = [[d8(mid - tick * (i + 1)), d8(Decimal("0.5") + Decimal(i) / 10)] for i in range(limit)]
        asks = [[d8(mid + tick * (i + 1)), d8(Decimal("0.5") + Decimal(i) / 10)] for i in range(limit)]
        return {"lastUpdateId": self.state.market_now, "bids": bids, "asks": asks}

    # -- signed -------------------------------------------------------------------------------
    async def account(self, _r: web.Request, _p: dict[str, str]) -> dict[str, Any]:
        balances = [
            {"asset": asset, "free": d8(b.free), "locked": d8(b.locked)}
            for asset, b in sorted(self.state.book.balances.items())
        ]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": "0.00100000",
                "taker": "0.00100000",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": wall_ms(),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 354937868,
        }

    async def new_order(self, _r: web.Request, p: dict[str, str]) -> Any:
        symbol = self._symbol(p)
        state = self.state
        if state.faults.reject_orders:
            raise SimError("rejected")
        type_ = p["type"].upper()
        if type_ not in ORDER_TYPES:
            raise SimError("bad_order_type", type_)
        base_type, is_stop = ORDER_TYPES[type_]
        if is_stop and "stopPrice" not in p:
            raise SimError("bad_param", "stopPrice")
        if base_type == "LIMIT" and ("price" not in p or "timeInForce" not in p):
            raise SimError("bad_param", "price and timeInForce")
        last = state.last_price(symbol)
        if "quantity" in p:
            qty = Decimal(p["quantity"])
        elif type_ == "MARKET" and "quoteOrderQty" in p:
            step = state.specs[symbol].step_size
            qty = (Decimal(p["quoteOrderQty"]) / last / step).to_integral_value(rounding="ROUND_DOWN") * step
        else:
            raise SimError("bad_param", "quantity")
        order = state.book.place(
            symbol=symbol,
            side=p["side"].upper(),
            type_=base_type,
            qty=qty,
            price=Decimal(p["price"]) if "price" in p else None,
            time_in_force=p.get("timeInForce", "GTC"),
            client_id=p.get("newClientOrderId", ""),
            now_ms=wall_ms(),
            last_price=last,
            trigger_price=Decimal(p["stopPrice"]) if is_stop else None,
            direction_from_side=True,  # STOP_LOSS: a sell below the price, a buy above it
            lock_on_trigger=False,  # spot stops reserve the balance when placed
        )
        if state.faults.lost_acks > 0:  # the order stands, the answer never reaches the client
            state.faults.lost_acks -= 1
            await asyncio.sleep(state.faults.lost_ack_hang_s)
        # MARKET and LIMIT answer FULL by default, every other type ACK
        resp_type = p.get("newOrderRespType", "FULL" if type_ in ("MARKET", "LIMIT") else "ACK").upper()
        if resp_type == "ACK":
            return {
                "symbol": order.symbol,
                "orderId": order.order_id,
                "orderListId": -1,
                "clientOrderId": order.client_id,
                "transactTime": order.created_ms,
            }
        body = self._order(order)
        body["transactTime"] = order.created_ms
        if resp_type == "FULL":
            body["fills"] = [self._fill(t) for t in order.trades]
        return body

    async def new_oco(self, _r: web.Request, p: dict[str, str]) -> dict[str, Any]:
        """``POST /api/v3/orderList/oco``: a target leg (LIMIT_MAKER, or TAKE_PROFIT triggered at its
        stop price) and a STOP_LOSS[_LIMIT] leg, one above the price and one below it (which is which
        follows the side)."""
        symbol = self._symbol(p)
        state = self.state
        if state.faults.reject_orders:
            raise SimError("rejected")
        legs = {where: p[f"{where}Type"].upper() for where in ("above", "below")}
        targets = [w for w, t in legs.items() if t in ("LIMIT_MAKER", "TAKE_PROFIT")]
        stops = [w for w, t in legs.items() if t in ("STOP_LOSS", "STOP_LOSS_LIMIT")]
        if len(targets) != 1 or len(stops) != 1:
            raise SimError("bad_order_type", f"aboveType={legs['above']} belowType={legs['below']}")
        target, stop = targets[0], stops[0]
        conditional = legs[target] == "TAKE_PROFIT"
        stop_limit = legs[stop] == "STOP_LOSS_LIMIT"
        if stop_limit and (f"{stop}Price" not in p or f"{stop}TimeInForce" not in p):
            raise SimError("bad_param", f"{stop}Price and {stop}TimeInForce")
        stop_leg, limit_leg = state.book.place_oco(
            symbol=symbol,
            side=p["side"].upper(),
            qty=Decimal(p["quantity"]),
            target_price=Decimal(p[f"{target}StopPrice" if conditional else f"{target}Price"]),
            target_client_id=p.get(f"{target}ClientOrderId", ""),
            target_conditional=conditional,
            stop_price=Decimal(p[f"{stop}StopPrice"]),
            stop_limit_price=Decimal(p[f"{stop}Price"]) if stop_limit else None,
            stop_client_id=p.get(f"{stop}ClientOrderId", ""),
            now_ms=wall_ms(),
            last_price=state.last_price(symbol),
        )
        if state.faults.lost_acks > 0:  # the list stands, the answer never reaches the client
            state.faults.lost_acks -= 1
            await asyncio.sleep(state.faults.lost_ack_hang_s)
        legs_in_order = (stop_leg, limit_leg) if stop == "below" else (limit_leg, stop_leg)
        return {
            "orderListId": stop_leg.list_id,
            "contingencyType": "OCO",
            "listStatusType": "EXEC_STARTED",
            "listOrderStatus": "EXECUTING",
            "listClientOrderId": p.get("listClientOrderId", f"sim-list-{stop_leg.list_id}"),
            "transactionTime": stop_leg.created_ms,
            "symbol": symbol,
            "orders": [
                {"symbol": symbol, "orderId": o.order_id, "clientOrderId": o.client_id} for o in legs_in_order
            ],
            "orderReports": [{**self._order(o), "transactTime": o.created_ms} for o in legs_in_order],
        }

    async def cancel_order(self, _r: web.Request, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        try:
            order = self.state.book.cancel(
                symbol, _int(p.get("orderId")), p.get("origClientOrderId"), wall_ms()
            )
        except SimError as exc:
            raise SimError("unknown_order_cancel", exc.detail) from exc
        body = self._order(order)
        body["origClientOrderId"] = order.client_id
        body["transactTime"] = order.updated_ms
        return body

    async def get_order(self, _r: web.Request, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        return self._order(self.state.book.find(symbol, _int(p.get("orderId")), p.get("origClientOrderId")))

    async def open_orders(self, _r: web.Request, p: dict[str, str]) -> list[dict[str, Any]]:
        symbol = self._symbol(p) if "symbol" in p else None
        return [self._order(o) for o in self.state.book.open_orders(symbol)]

    async def all_orders(self, _r: web.Request, p: dict[str, str]) -> list[dict[str, Any]]:
        symbol = self._symbol(p)
        orders = [o for o in self.state.book.orders.values() if o.symbol == symbol]
        return [self._order(o) for o in orders][-min(int(p.get("limit", "500")), 1000) :]

    async def my_trades(self, _r: web.Request, p: dict[str, str]) -> list[dict[str, Any]]:
        """Oldest first; a time range covers at most 24 h (startTime alone: the 24 h from it); no
        range: the most recent trades."""
        symbol, order_id = self._symbol(p), _int(p.get("orderId"))
        start, end = history_window(_int(p.get("startTime")), _int(p.get("endTime")), DAY_MS)
        trades = [
            t
            for t in self.state.book.trades
            if t.symbol == symbol
            and (order_id is None or t.order_id == order_id)
            and (start is None or start <= t.time_ms)
            and (end is None or t.time_ms <= end)
        ]
        limit = min(int(p.get("limit", "500")), 1000)
        trades = trades[:limit] if start is not None else trades[-limit:]
        return [self._trade(t) for t in trades]

    async def countdown_cancel_all(self, _r: web.Request, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        countdown = int(p["countdownTime"])
        self.deadman.arm(symbol, countdown)
        return {"symbol": symbol, "countdownTime": str(countdown)}

    # -- shapes -------------------------------------------------------------------------------
    @staticmethod
    def _order(o: SimOrder) -> dict[str, Any]:
        return {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": o.list_id,
            "clientOrderId": o.client_id,
            "price": d8(o.price),
            "origQty": d8(o.qty),
            "executedQty": d8(o.filled),
            "cummulativeQuoteQty": d8(o.quote_filled),
            "status": o.status,
            "timeInForce": o.time_in_force,
            "type": order_type(o),
            "side": o.side,
            "stopPrice": d8(o.trigger_price),
            "icebergQty": d8(None),
            "time": o.created_ms,
            "updateTime": o.updated_ms,
            # a stop works on the book only once triggered (workingTime -1 until then)
            "isWorking": o.triggered or not o.is_stop,
            "workingTime": (o.triggered_ms if o.triggered else -1) if o.is_stop else o.created_ms,
            "origQuoteOrderQty": d8(None),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    @staticmethod
    def _fill(t: SimTrade) -> dict[str, Any]:
        return {
            "price": d8(t.price),
            "qty": d8(t.qty),
            "commission": d8(t.fee),
            "commissionAsset": t.fee_asset,
            "tradeId": t.trade_id,
        }

    @staticmethod
    def _trade(t: SimTrade) -> dict[str, Any]:
        return {
            "symbol": t.symbol,
            "id": t.trade_id,
            "orderId": t.order_id,
            "orderListId": -1,
            "price": d8(t.price),
            "qty": d8(t.qty),
            "quoteQty": d8(t.quote_qty),
            "commission": d8(t.fee),
            "commissionAsset": t.fee_asset,
            "time": t.time_ms,
            "isBuyer": t.side == "BUY",
            "isMaker": t.is_maker,
            "isBestMatch": True,
        }


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None
