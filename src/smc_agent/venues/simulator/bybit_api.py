"""Bybit ``/v5`` (spot category) as the simulator speaks it (envelopes follow the fixtures)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from smc_agent.venues.simulator.auth import signature_ok, timestamp_window_ok
from smc_agent.venues.simulator.book import WEEK_MS, SimError, SimOrder, SimTrade, history_window
from smc_agent.venues.simulator.deadman import DeadManSwitch
from smc_agent.venues.simulator.feed import Bar
from smc_agent.venues.simulator.state import SimState, wall_ms

Handler = Callable[[dict[str, str]], Awaitable[Any]]

# simulator refusal kind -> (retCode, retMsg)
ERRORS: dict[str, tuple[int, str]] = {
    "insufficient_balance": (170131, "Insufficient balance."),
    "duplicate_client_id": (170141, "Duplicate clientOrderId."),
    "rejected": (170124, "Order rejected by the exchange (simulated fault)."),
    "unknown_order": (170213, "Order does not exist."),
    "lot_size": (170137, "Order volume decimal too long."),
    "price_filter": (170134, "Order price decimal too long."),
    "min_notional": (170140, "Order value exceeded lower limit."),
    "unknown_symbol": (170121, "Invalid symbol."),
    "bad_order_filter": (170202, "Invalid orderFilter parameter."),
    "would_trigger": (10001, "params error: the trigger price equals the last price"),
    "bad_param": (10001, "params error"),
    "history_window": (10001, "params error: endTime - startTime must be <= 7 days"),
    "timestamp": (10002, "invalid request, please check your server timestamp or recv_window param"),
    "api_key": (10003, "API key is invalid."),
    "signature": (10004, "error sign! origin_string mismatch"),
}
# Bybit answers throttling and outages with HTTP status and a plain body, not an envelope
HTTP_FAULTS = {
    "rate_limited": "Too many visits!",
    "banned": "access too frequent",
    "unavailable": "Service Unavailable",
}
INTERVALS = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "2h": "120",
    "4h": "240",
    "6h": "360",
    "12h": "720",
    "1d": "D",
}


# spot orderFilter of an order: plain, conditional (assets reserved when it triggers), TP/SL (reserved at once)
ORDER_FILTERS = ("Order", "StopOrder", "tpslOrder")


def order_filter(o: SimOrder) -> str:
    if not o.is_stop:
        return "Order"
    return "StopOrder" if o.lock_on_trigger else "tpslOrder"


def s8(value: Decimal | None) -> str:
    return format((value or Decimal(0)).normalize(), "f")


def envelope(result: Any, code: int = 0, msg: str = "OK") -> web.Response:
    return web.json_response(
        {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": wall_ms()}
    )


def error_response(kind: str, detail: str = "", retry_after: int = 0) -> web.Response:
    if kind in HTTP_FAULTS:
        status = {"rate_limited": 429, "banned": 418, "unavailable": 503}[kind]
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return web.Response(status=status, text=HTTP_FAULTS[kind], headers=headers)
    code, msg = ERRORS[kind]
    return envelope({}, code, msg + (f" ({detail})" if detail else ""))


class BybitApi:
    def __init__(self, state: SimState, deadman: DeadManSwitch) -> None:
        self.state = state
        self.deadman = deadman

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/v5/market/time", self._public(self.time))
        r.add_get("/v5/market/instruments-info", self._public(self.instruments))
        r.add_get("/v5/market/kline", self._public(self.kline))
        r.add_get("/v5/market/tickers", self._public(self.tickers))
        r.add_get("/v5/market/orderbook", self._public(self.orderbook))
        r.add_get("/v5/user/query-api", self._signed(self.query_api))
        r.add_get("/v5/account/info", self._signed(self.account_info))
        r.add_get("/v5/asset/coin/query-info", self._signed(self.coin_info))
        r.add_get("/v5/account/wallet-balance", self._signed(self.wallet_balance))
        r.add_post("/v5/order/create", self._signed(self.create_order))
        r.add_post("/v5/order/cancel", self._signed(self.cancel_order))
        r.add_get("/v5/order/realtime", self._signed(self.realtime))
        r.add_get("/v5/order/history", self._signed(self.history))
        r.add_get("/v5/execution/list", self._signed(self.executions))
        r.add_post("/v5/order/disconnected-cancel-all", self._signed(self.disconnected_cancel_all))

    # -- plumbing -----------------------------------------------------------------------------
    def _public(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            return await self._run(handler, dict(request.query))

        return run

    def _signed(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run_signed(request: web.Request) -> web.StreamResponse:
            h = request.headers
            key, ts, window = (
                h.get("X-BAPI-API-KEY", ""),
                h.get("X-BAPI-TIMESTAMP", ""),
                h.get("X-BAPI-RECV-WINDOW", "5000"),
            )
            secret = dict(self.state.config.api_keys).get(key)
            if secret is None:
                return error_response("api_key")
            body = await request.text()
            signed_part = body if request.method == "POST" else request.rel_url.raw_query_string
            if not signature_ok(secret, ts + key + window + signed_part, h.get("X-BAPI-SIGN", "")):
                return error_response("signature")
            try:
                if not timestamp_window_ok(int(ts), wall_ms(), int(window)):
                    return error_response("timestamp", f"req_timestamp[{ts}],server_timestamp[{wall_ms()}]")
            except ValueError:
                return error_response("timestamp")
            if request.method == "POST":
                try:
                    params = {k: str(v) for k, v in json.loads(body or "{}").items()}
                except (ValueError, AttributeError):
                    return error_response("bad_param", "body is not a JSON object")
            else:
                params = dict(parse_qsl(request.rel_url.raw_query_string))
            return await self._run(handler, params)

        return run_signed

    async def _run(self, handler: Handler, params: dict[str, str]) -> web.StreamResponse:
        try:
            result = await handler(params)
        except SimError as exc:
            return error_response(exc.kind, exc.detail)
        except (KeyError, ValueError, InvalidOperation) as exc:
            return error_response("bad_param", str(exc))
        return envelope(result)

    def _symbol(self, p: dict[str, str]) -> str:
        symbol = p.get("symbol", "")
        if symbol not in self.state.feeds:
            raise SimError("unknown_symbol", symbol)
        return symbol

    @staticmethod
    def _spot_only(p: dict[str, str]) -> bool:
        return p.get("category", "spot") == "spot"

    # -- public -------------------------------------------------------------------------------
    async def time(self, _p: dict[str, str]) -> dict[str, Any]:
        now = wall_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    async def instruments(self, p: dict[str, str]) -> dict[str, Any]:
        specs = list(self.state.specs.values()) if self._spot_only(p) else []
        if "symbol" in p:
            specs = [s for s in specs if s.symbol == p["symbol"]]
        return {
            "category": p.get("category", "spot"),
            "nextPageCursor": "",
            "list": [
                {
                    "symbol": s.symbol,
                    "baseCoin": s.base,
                    "quoteCoin": s.quote,
                    "innovation": "0",
                    "status": "Trading",
                    "marginTrading": "none",
                    "stTag": "0",
                    "lotSizeFilter": {
                        "basePrecision": s8(s.step_size),
                        "quotePrecision": "0.00000001",
                        "minOrderQty": s8(s.min_qty),
                        "maxOrderQty": s8(s.max_qty),
                        "minOrderAmt": s8(s.min_notional),
                        "maxOrderAmt": "9000000",
                    },
                    "priceFilter": {"tickSize": s8(s.tick_size)},
                    "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
                }
                for s in specs
            ],
        }

    async def kline(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        feed = self.state.feeds[symbol]
        if p.get("interval") != INTERVALS.get(feed.timeframe):
            raise SimError("bad_param", f"interval {p.get('interval')} not served")
        limit = min(int(p.get("limit", "200")), 1000)
        start = self.state.to_data(int(p["start"])) if "start" in p else None
        end = self.state.to_data(int(p["end"])) if "end" in p else None
        bars = feed.window(self.state.data_now, start, end, limit)
        rows = [self._kline(b) for b in reversed(bars)]  # Bybit lists newest first
        return {"category": p.get("category", "spot"), "symbol": symbol, "list": rows}

    def _kline(self, b: Bar) -> list[str]:
        return [
            str(self.state.to_visible(b.open_time)),
            s8(b.open),
            s8(b.high),
            s8(b.low),
            s8(b.close),
            s8(b.volume),
            s8(b.volume * b.close),
        ]

    async def tickers(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        feed, now = self.state.feeds[symbol], self.state.data_now
        bars = feed.window(now, now - 86_400_000, None, 100_000)
        last = feed.last_price(now)
        first = bars[0].open if bars else last
        tick = self.state.specs[symbol].tick_size
        vol = sum((b.volume for b in bars), Decimal(0))
        return {
            "category": "spot",
            "list": [
                {
                    "symbol": symbol,
                    "bid1Price": s8(last - tick),
                    "bid1Size": "1",
                    "ask1Price": s8(last + tick),
                    "ask1Size": "1",
                    "lastPrice": s8(last),
                    "prevPrice24h": s8(first),
                    "price24hPcnt": f"{((last - first) / first):.4f}" if first else "0",
                    "highPrice24h": s8(max((b.high for b in bars), default=last)),
                    "lowPrice24h": s8(min((b.low for b in bars), default=last)),
                    "turnover24h": s8(vol * last),
                    "volume24h": s8(vol),
                    "usdIndexPrice": s8(last),
                }
            ],
        }

    async def orderbook(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        limit = min(int(p.get("limit", "1")), 200)
        last, tick = self.state.last_price(symbol), self.state.specs[symbol].tick_size
        mid = (last / tick).quantize(Decimal(1)) * tick
        size = [s8(Decimal("0.5") + Decimal(i) / 10) for i in range(limit)]
        return {
            "s": symbol,
            "b": [[s8(mid - tick * (i + 1)), size[i]] for i in range(limit)],
            "a": [[s8(mid + tick * (i + 1)), size[i]] for i in range(limit)],
            "ts": self.state.market_now,
            "u": self.state.market_now // 1000,
            "seq": self.state.market_now,
            "cts": self.state.market_now,
        }

    # -- private ------------------------------------------------------------------------------
    async def query_api(self, _p: dict[str, str]) -> dict[str, Any]:
        return {
            "id": "1",
            "note": "simulator",
            "apiKey": "",
            "readOnly": 0,
            "secret": "",
            "permissions": {"Spot": ["SpotTrade"], "ContractTrade": ["Order", "Position"]},
            "ips": ["*"],
            "type": 1,
            "deadlineDay": 90,
            "unified": 0,
            "uta": 1 if self.state.config.unified_account else 0,
            "userID": 1,
            "isMaster": True,
        }

    async def account_info(self, _p: dict[str, str]) -> dict[str, Any]:
        return {
            "marginMode": "REGULAR_MARGIN",
            "updatedTime": str(wall_ms()),
            "unifiedMarginStatus": 4 if self.state.config.unified_account else 1,
            "dcpStatus": "OFF",
            "timeWindow": 10,
            "smpGroup": 0,
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
        }

    async def coin_info(self, _p: dict[str, str]) -> dict[str, Any]:
        coins = sorted(
            {s.base for s in self.state.specs.values()} | {s.quote for s in self.state.specs.values()}
        )
        return {"rows": [{"name": c, "coin": c, "remainAmount": "1000000", "chains": []} for c in coins]}

    async def wallet_balance(self, _p: dict[str, str]) -> dict[str, Any]:
        coins = [
            {
                "coin": asset,
                "walletBalance": s8(b.free + b.locked),
                "locked": s8(b.locked),
                "availableToWithdraw": s8(b.free),
                "equity": s8(b.free + b.locked),
                "usdValue": "0",
                "borrowAmount": "0",
                "accruedInterest": "0",
                "totalOrderIM": "0",
                "totalPositionIM": "0",
                "unrealisedPnl": "0",
                "cumRealisedPnl": "0",
                "spotBorrow": "0",
            }
            for asset, b in sorted(self.state.book.balances.items())
        ]
        return {
            "list": [
                {
                    "accountType": "UNIFIED",
                    "totalEquity": "0",
                    "totalWalletBalance": "0",
                    "totalAvailableBalance": "0",
                    "coin": coins,
                }
            ]
        }

    async def create_order(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        state = self.state
        if state.faults.reject_orders:
            raise SimError("rejected")
        type_ = p["orderType"].upper()
        side = p["side"].upper()
        kind = p.get("orderFilter", "Order")
        if kind not in ORDER_FILTERS:
            raise SimError("bad_order_filter", kind)
        is_stop = kind != "Order"
        if is_stop and not p.get("triggerPrice"):
            raise SimError("bad_param", "triggerPrice is required for a conditional order")
        last = state.last_price(symbol)
        qty = Decimal(p["qty"])
        if type_ == "MARKET" and side == "BUY" and p.get("marketUnit", "quoteCoin") == "quoteCoin":
            step = state.specs[symbol].step_size
            qty = (qty / last / step).to_integral_value(rounding="ROUND_DOWN") * step
        order = state.book.place(
            symbol=symbol,
            side=side,
            type_=type_,
            qty=qty,
            price=Decimal(p["price"]) if p.get("price") and type_ == "LIMIT" else None,
            time_in_force=p.get("timeInForce", "GTC" if type_ == "LIMIT" else "IOC").upper(),
            client_id=p.get("orderLinkId", ""),
            now_ms=wall_ms(),
            last_price=last,
            trigger_price=Decimal(p["triggerPrice"]) if is_stop else None,
            direction_from_side=False,  # spot: the side of the last price the trigger lies on
            lock_on_trigger=kind == "StopOrder",
        )
        if state.faults.lost_acks > 0:  # the order stands, the answer never reaches the client
            state.faults.lost_acks -= 1
            await asyncio.sleep(state.faults.lost_ack_hang_s)
        return {"orderId": str(order.order_id), "orderLinkId": order.client_id}

    async def cancel_order(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p)
        kind = p.get("orderFilter", "Order")
        if kind not in ORDER_FILTERS:
            raise SimError("bad_order_filter", kind)
        order = self.state.book.find(symbol, _int(p.get("orderId")), p.get("orderLinkId"))
        # spot cancels a conditional order that has not triggered only under its own orderFilter
        if order.waiting_trigger and kind != order_filter(order):
            raise SimError("unknown_order", f"{order.order_id} is not an orderFilter={kind} order")
        order = self.state.book.cancel(symbol, order.order_id, None, wall_ms())
        return {"orderId": str(order.order_id), "orderLinkId": order.client_id}

    async def realtime(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self._symbol(p) if "symbol" in p else None
        if p.get("orderId") or p.get("orderLinkId"):
            assert symbol is not None
            orders = [self.state.book.find(symbol, _int(p.get("orderId")), p.get("orderLinkId"))]
        else:
            orders = self.state.book.open_orders(symbol)
        if p.get("orderFilter"):  # unified accounts list every kind unless asked for one
            orders = [o for o in orders if order_filter(o) == p["orderFilter"]]
        return {"category": "spot", "nextPageCursor": "", "list": [self._order(o) for o in orders]}

    async def history(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = p.get("symbol")
        orders = [o for o in self.state.book.orders.values() if not o.is_open and symbol in (None, o.symbol)]
        if p.get("orderId"):
            orders = [o for o in orders if o.order_id == int(p["orderId"])]
        if p.get("orderFilter"):
            orders = [o for o in orders if order_filter(o) == p["orderFilter"]]
        limit = min(int(p.get("limit", "20")), 50)
        return {
            "category": "spot",
            "nextPageCursor": "",
            "list": [self._order(o) for o in orders[::-1][:limit]],
        }

    async def executions(self, p: dict[str, str]) -> dict[str, Any]:
        """Newest first, at most 100 a page; a time range covers at most 7 days (startTime alone: the
        7 days from it, none: the last 7 days). An order id overrides the range."""
        symbol = p.get("symbol")
        if p.get("orderId"):
            trades = [t for t in self.state.book.trades if t.order_id == int(p["orderId"])]
        else:
            start, end = history_window(_int(p.get("startTime")), _int(p.get("endTime")), WEEK_MS)
            if start is None or end is None:  # none given: the last 7 days
                end = wall_ms()
                start = end - WEEK_MS
            trades = [
                t for t in self.state.book.trades if symbol in (None, t.symbol) and start <= t.time_ms <= end
            ]
        limit = min(int(p.get("limit", "50")), 100)
        return {
            "category": "spot",
            "nextPageCursor": "",
            "list": [self._exec(t) for t in trades[::-1][:limit]],
        }

    async def disconnected_cancel_all(self, p: dict[str, str]) -> dict[str, Any]:
        window_s = int(p.get("timeWindow", "10"))
        if not 3 <= window_s <= 300:
            raise SimError("bad_param", "timeWindow must be 3..300 seconds")
        self.deadman.arm(None, window_s * 1000)
        return {}

    # -- shapes -------------------------------------------------------------------------------
    @staticmethod
    def _order(o: SimOrder) -> dict[str, Any]:
        status = {
            "NEW": "New",
            "PARTIALLY_FILLED": "PartiallyFilled",
            "FILLED": "Filled",
            "CANCELED": "Cancelled",
            "EXPIRED": "Cancelled",
            "REJECTED": "Rejected",
        }[o.status]
        if o.is_stop and not o.triggered:  # conditional orders before their trigger
            status = "Untriggered" if o.is_open else "Deactivated" if o.status == "CANCELED" else status
        elif status == "Cancelled" and o.filled > 0:
            # spot names an order ended after filling in part apart ("Cancelled" spot orders filled
            # nothing); ccxt reads it "closed", for less than its quantity
            status = "PartiallyFilledCanceled"
        return {
            "orderId": str(o.order_id),
            "orderLinkId": o.client_id,
            "blockTradeId": "",
            "symbol": o.symbol,
            "price": s8(o.price),
            "qty": s8(o.qty),
            "side": o.side.capitalize(),
            "isLeverage": "0",
            "positionIdx": 0,
            "orderStatus": status,
            "cancelType": "UNKNOWN",
            "rejectReason": "EC_NoError",
            "avgPrice": s8(o.avg_price) if o.filled else "",
            "leavesQty": s8(o.qty - o.filled if o.is_open else Decimal(0)),
            "leavesValue": "0",
            "cumExecQty": s8(o.filled),
            "cumExecValue": s8(o.quote_filled),
            "cumExecFee": s8(sum((t.fee for t in o.trades), Decimal(0))),
            "timeInForce": o.time_in_force,
            "orderType": o.type.capitalize(),
            "stopOrderType": {"Order": "", "StopOrder": "Stop", "tpslOrder": "tpslOrder"}[order_filter(o)],
            "orderIv": "",
            "triggerPrice": s8(o.trigger_price),
            "takeProfit": "0",
            "stopLoss": "0",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": o.trigger_direction,
            "triggerBy": "LastPrice" if o.is_stop else "",
            "lastPriceOnCreated": s8(o.price_on_created) if o.is_stop else "",
            "reduceOnly": False,
            "closeOnTrigger": False,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": "",
            "tpLimitPrice": "0",
            "slLimitPrice": "0",
            "placeType": "",
            "createdTime": str(o.created_ms),
            "updatedTime": str(o.updated_ms),
        }

    @staticmethod
    def _exec(t: SimTrade) -> dict[str, Any]:
        return {
            "symbol": t.symbol,
            "orderId": str(t.order_id),
            "orderLinkId": t.client_id,
            "side": t.side.capitalize(),
            "orderPrice": s8(t.price),
            "orderQty": s8(t.qty),
            "leavesQty": "0",
            "createType": "CreateByUser",
            "orderType": "Limit" if t.is_maker else "Market",
            "stopOrderType": "",
            "execFee": s8(t.fee),
            "execId": str(t.trade_id),
            "execPrice": s8(t.price),
            "execQty": s8(t.qty),
            "execType": "Trade",
            "execValue": s8(t.quote_qty),
            "execTime": str(t.time_ms),
            "feeCurrency": t.fee_asset,
            "isMaker": t.is_maker,
            "feeRate": "0.001",
            "tradeIv": "",
            "markIv": "",
            "markPrice": s8(t.price),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": "",
            "seq": t.trade_id,
        }


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None
