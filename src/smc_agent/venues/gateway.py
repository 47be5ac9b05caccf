"""A ccxt-backed gateway implementing :class:`smc_agent.core.ports.VenuePort` for Binance and Bybit.

Every call goes through :meth:`CcxtGateway._call`: it refuses to send while the venue has banned
us, waits out ``Retry-After`` after a 429 (retrying a refused request is safe: the venue did not
process it), translates ccxt exceptions through the one table in :mod:`smc_agent.venues.errors`,
and counts successes and failures for the health monitor. Venue differences come from
:mod:`smc_agent.venues.quirks`, never from ``if venue == ...`` branches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from smc_agent.core import errors as core
from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from smc_agent.core.fill import Fill
from smc_agent.core.ids import ClientOrderId, InstrumentId, TradeId, VenueOrderId
from smc_agent.core.instrument import Instrument
from smc_agent.core.ports import Balance, HistoryLimits, OrderReport
from smc_agent.execution.ids import is_take_profit, parent_order_id
from smc_agent.logs import get_logger
from smc_agent.venues.errors import translate
from smc_agent.venues.quirks import QUIRKS, VenueQuirks
from smc_agent.venues.throttle import VenueThrottle

_CCXT_STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


_STOP_TYPES = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
_SMALLEST_STEP = Decimal("0.00000001")  # a tick or lot step the markets do not give
_PRICED_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)
# core order type -> ccxt unified type; the trigger param makes a stop of it
_CCXT_TYPE = {
    OrderType.MARKET: "market",
    OrderType.LIMIT: "limit",
    OrderType.STOP_MARKET: "market",
    OrderType.STOP_LIMIT: "limit",
}


log = get_logger("smc_agent.venues.gateway")


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class CcxtGateway:
    """``VenuePort`` over an (unmodified) ccxt async exchange."""

    def __init__(self, exchange: Any, *, venue: str, max_rate_limit_retries: int = 3) -> None:
        if venue not in QUIRKS:
            raise core.ConfigError(f"unknown venue {venue!r}: expected one of {sorted(QUIRKS)}")
        self.exchange = exchange
        self._venue = venue
        self.quirks: VenueQuirks = QUIRKS[venue]
        self.throttle = VenueThrottle(venue)
        self.max_rate_limit_retries = max_rate_limit_retries
        self.calls_ok = 0
        self.calls_failed = 0
        self.klines_refused = 0  # candle rows from the venue refused as malformed or impossible
        self.last_latency_ms: float | None = None
        self.last_error: str | None = None
        self._stop_ids: set[str] = set()  # venue ids of stop orders seen (cancel addresses them as such)
        # why an order may not be sent now (None: it may), asked before an order goes out again after a
        # throttle: the order gateway's halt check (set by it); None here: always
        self.may_send: Callable[[SubmitOrder], str | None] | None = None

    @property
    def venue(self) -> str:
        return self._venue

    async def close(self) -> None:
        await self.exchange.close()

    # -- the one door to the venue --------------------------------------------------------------
    async def _call(self, method: str, *args: Any, resend: SubmitOrder | None = None, **kwargs: Any) -> Any:
        """Call ccxt's ``method``; a throttled call is retried after the venue's backoff. ``resend``:
        the order this call places. A throttle turns the request away unprocessed, and a retry sends it
        again: an entry goes only if :attr:`may_send` still allows it then (a halt set during the
        backoff stops it: raises RejectedError, nothing sent); so does one sent again after a refusal
        for our clock (-1021), once the venue's time is measured. An exit authorised before the halt goes
        on: a close has had its stop and target canceled already, and a stop protects a position."""
        attempt = 0
        resynced = False
        while True:
            self.throttle.check_ban()
            await self.throttle.wait_backoff()
            self.throttle.check_ban()
            if (attempt or resynced) and resend is not None and not resend.reduce_only and self.may_send:
                refusal = self.may_send(resend)
                if refusal is not None:
                    why = "the clock resync" if resynced and not attempt else "a throttle"
                    raise core.RejectedError(f"{self._venue}: not sent again after {why}: {refusal}")
            started = time.perf_counter()
            try:
                result = await getattr(self.exchange, method)(*args, **kwargs)
            except Exception as exc:
                error = translate(exc, venue=self._venue, headers=self.exchange.last_response_headers)
                self._count_failure(error)
                if isinstance(error, core.BannedError):
                    self.throttle.on_banned(error.until)
                    raise error from exc
                if isinstance(error, core.RateLimited):
                    self.throttle.on_rate_limited(error.retry_after)
                    attempt += 1
                    if attempt <= self.max_rate_limit_retries:
                        continue
                if type(error) is core.RetryableError and not resynced and method != "fetch_time":
                    # our clock disagrees with the venue's (-1021 / 10002): measure the offset, retry once
                    resynced = True
                    if await self._resync_clock():
                        continue
                raise error from exc
            self.last_latency_ms = (time.perf_counter() - started) * 1000
            self.calls_ok += 1
            return result

    async def _resync_clock(self) -> bool:
        try:
            await self.exchange.load_time_difference()
        except Exception:
            return False
        return True

    def _count_failure(self, error: core.SmcAgentError) -> None:
        # a refusal of a bad request says nothing about the venue's health
        if not isinstance(error, core.RejectedError):
            self.calls_failed += 1
        self.last_error = str(error)

    async def _markets(self) -> dict[str, Any]:
        if not self.exchange.markets:
            await self._call("load_markets")
        markets: dict[str, Any] = self.exchange.markets
        return markets

    async def _market(self, instrument_id: InstrumentId) -> dict[str, Any]:
        markets = await self._markets()
        if instrument_id.symbol not in markets:
            raise core.ConfigError(f"{self._venue}: unknown symbol {instrument_id.symbol!r}")
        market: dict[str, Any] = markets[instrument_id.symbol]
        return market

    # -- instruments, balances, time ------------------------------------------------------------
    async def load_instruments(self) -> Sequence[Instrument]:
        await self._call("load_markets", True)
        return [
            self._instrument(InstrumentId(self._venue, symbol), m)
            for symbol, m in sorted(self.exchange.markets.items())
            if m.get("spot") and m.get("active", True) is not False
        ]

    def _instrument(self, instrument_id: InstrumentId, m: dict[str, Any]) -> Instrument:
        limits = m.get("limits") or {}
        return Instrument(
            venue=self._venue,
            symbol=instrument_id.symbol,
            base=m["base"],
            quote=m["quote"],
            price_increment=_dec(m["precision"]["price"]) or _SMALLEST_STEP,
            qty_increment=_dec(m["precision"]["amount"]) or _SMALLEST_STEP,
            min_qty=_dec((limits.get("amount") or {}).get("min")) or Decimal(0),
            max_qty=_dec((limits.get("amount") or {}).get("max")),
            min_notional=_dec((limits.get("cost") or {}).get("min")) or Decimal(0),
            maker_fee=_dec(m.get("maker")) or Decimal(0),
            taker_fee=_dec(m.get("taker")) or Decimal(0),
        )

    async def fetch_balances(self) -> Sequence[Balance]:
        raw = await self._call("fetch_balance")
        totals: dict[str, Any] = raw.get("total") or {}
        frees: dict[str, Any] = raw.get("free") or {}
        return [
            Balance(currency=c, total=_dec(t) or Decimal(0), free=_dec(frees.get(c)) or Decimal(0))
            for c, t in sorted(totals.items())
            if t is not None
        ]

    async def fetch_time(self) -> int:
        return int(await self._call("fetch_time"))

    # -- orders ---------------------------------------------------------------------------------
    async def submit_order(self, command: SubmitOrder) -> OrderReport:
        """Idempotent on ``client_order_id``; after a lost acknowledgement the order is looked up.

        Stop orders go out as ccxt ``market``/``limit`` orders with the venue's trigger param
        (:attr:`VenueQuirks.trigger_price_param`): ccxt turns them into Binance spot ``STOP_LOSS`` /
        ``STOP_LOSS_LIMIT`` with ``stopPrice`` and Bybit spot conditional orders
        (``orderFilter=StopOrder``, ``triggerPrice``; the venue infers the direction).

        A venue that does not answer one of the calls made before the order (the last price, the
        markets, the account kind) raises RejectedError: nothing was sent, so the outcome is known."""
        try:
            command, params, market = await self._prepare(command)
        except (core.RetryableError, core.BannedError) as exc:
            raise core.RejectedError(
                f"{self._venue}: not sent, the venue did not answer before it ({type(exc).__name__}: {exc})"
            ) from exc
        q = self.quirks
        is_stop = command.order_type in _STOP_TYPES
        try:
            raw = await self._call(
                "create_order",
                market["symbol"],
                _CCXT_TYPE[command.order_type],
                command.side.value,
                float(command.qty),
                None if command.price is None else float(command.price),
                params,
                resend=command,
            )
        except (core.VenueUnavailable, core.InvalidOrder) as exc:
            # lost ack or duplicate id: the order may exist; ask for it before reporting failure
            try:
                return await self.fetch_order(command.instrument_id, client_order_id=command.client_order_id)
            except core.OrderNotFound:
                raise exc from None
            except core.SmcAgentError:
                raise exc from None
        if is_stop:
            self._stop_ids.add(str(raw["id"]))
        if not q.create_returns_full_order or raw.get("status") is None or raw.get("side") is None:
            # an acknowledgement without the order (Bybit always, Binance ACK responses)
            return await self.fetch_order(command.instrument_id, venue_order_id=VenueOrderId(str(raw["id"])))
        return self._report(command.instrument_id, raw)

    async def _prepare(self, command: SubmitOrder) -> tuple[SubmitOrder, dict[str, Any], dict[str, Any]]:
        """The order as it goes out, its ccxt params and market; refuses (InvalidOrder) what the venue
        would refuse or ccxt would silently change."""
        q = self.quirks
        if q.trigger_direction_inferred and command.order_type in _STOP_TYPES:
            await self._refuse_stop_through(command)
        if q.conditional_take_profit and is_take_profit(command) and await self._beyond_market(command):
            # the venue's stop-loss takes the coins only when it triggers: a target resting as a limit
            # would hold them then, and the stop would be refused at the moment it is needed
            command = replace(
                command, order_type=OrderType.STOP_MARKET, trigger_price=command.price, price=None
            )
        if command.order_type.value not in q.order_types:
            raise core.InvalidOrder(f"{self._venue}: order type {command.order_type} not supported")
        if q.needs_unified_account:
            _margin, unified = await self._call("is_unified_enabled")  # asked once: ccxt keeps the answer
            if not unified:
                raise core.InvalidOrder(
                    f"{self._venue}: a classic (non-unified) account takes a spot market buy's quantity in "
                    "the quote coin, and its spot orders cannot be looked up: refused, "
                    "nothing sent (upgrade the account to a Unified Trading Account)"
                )
        tif = q.time_in_force.get(command.time_in_force.value)
        if tif is None:
            raise core.InvalidOrder(f"{self._venue}: time in force {command.time_in_force} not supported")
        is_stop = command.order_type in _STOP_TYPES
        if is_stop and command.trigger_price is None:
            raise core.InvalidOrder(f"{self._venue}: {command.order_type} order without a trigger price")
        if command.order_type in _PRICED_TYPES and command.price is None:
            raise core.InvalidOrder(f"{self._venue}: {command.order_type} order without a price")
        params: dict[str, Any] = {q.client_id_param: command.client_order_id}
        if command.order_type in _PRICED_TYPES:
            params["timeInForce"] = tif
            if command.time_in_force is TimeInForce.POST_ONLY:
                if is_stop:
                    raise core.InvalidOrder(f"{self._venue}: a stop order cannot be post-only")
                params["postOnly"] = True
        market = await self._market(command.instrument_id)
        instrument = self._instrument(command.instrument_id, market)
        # a stop-market order is valued at its trigger price for the venue's filters
        problem = instrument.validate_order(command.qty, command.price or command.trigger_price)
        if problem is None and is_stop and command.price is not None:
            problem = instrument.validate_order(command.qty, command.trigger_price)
        if problem is not None:  # ccxt would silently round; refuse instead, sending nothing
            raise core.InvalidOrder(f"{self._venue} {command.instrument_id.symbol}: {problem}")
        if is_stop:
            params[q.trigger_price_param] = str(command.trigger_price)
        return command, params, market

    async def _refuse_stop_through(self, command: SubmitOrder) -> None:
        """A stop whose trigger the market has already passed (a sell stop at or above the last trade)
        is refused as Binance refuses it ("would trigger immediately"): on a venue that infers the
        direction from the side of the market (:attr:`VenueQuirks.trigger_direction_inferred`) it would
        wait for the price to come back to it instead of protecting anything."""
        ticker = await self._call("fetch_ticker", command.instrument_id.symbol)
        last, trigger = _dec(ticker.get("last")), command.trigger_price
        if last is None or trigger is None:
            return
        through = trigger >= last if command.side is OrderSide.SELL else trigger <= last
        if through:
            raise core.WouldTriggerImmediately(
                f"{self._venue}: stop price {trigger} would trigger immediately (last price {last})"
            )

    async def _beyond_market(self, command: SubmitOrder) -> bool:
        """Whether a limit order's price lies beyond the last trade (above it for a sell): where it would
        rest. A target the market already reached goes out as the limit it is and fills at once; as a
        conditional order the venue would read its trigger as one to wait for on the way back."""
        ticker = await self._call("fetch_ticker", command.instrument_id.symbol)
        last = _dec(ticker.get("last"))
        if last is None or command.price is None:
            return False
        return command.price > last if command.side is OrderSide.SELL else command.price < last

    @property
    def supports_oco(self) -> bool:
        return self.quirks.native_oco

    async def submit_oco(self, stop: SubmitOrder, target: SubmitOrder) -> tuple[OrderReport, OrderReport]:
        """A position's stop-loss and take-profit as one OCO order list (:attr:`VenueQuirks.native_oco`):
        the two legs share the coins they would sell, and the venue expires one leg when the other
        triggers or fills, even in part. The stop goes out as ``STOP_LOSS`` (``STOP_LOSS_LIMIT`` with a
        price); the target as ``TAKE_PROFIT``, a market order triggered at its price. As a resting
        ``LIMIT_MAKER`` its first partial fill would expire the stop and leave the rest of the position
        without one. A sell list has the target above the price and the stop below it. Reports (stop,
        target). Idempotent on the client order ids, as :meth:`submit_order`."""
        iid = stop.instrument_id
        if not self.quirks.native_oco:
            raise core.InvalidOrder(f"{self._venue}: no OCO order lists")
        if (target.instrument_id, target.side, target.qty) != (iid, stop.side, stop.qty):
            raise core.InvalidOrder(f"{self._venue}: OCO legs differ in instrument, side or quantity")
        if stop.order_type not in _STOP_TYPES or stop.trigger_price is None:
            raise core.InvalidOrder(f"{self._venue}: the OCO stop leg needs a stop type and a trigger price")
        if target.order_type is not OrderType.LIMIT or target.price is None:
            raise core.InvalidOrder(f"{self._venue}: the OCO target leg must be a limit order with a price")
        market = await self._market(iid)
        instrument = self._instrument(iid, market)
        for price in (target.price, stop.trigger_price, stop.price):
            problem = None if price is None else instrument.validate_order(stop.qty, price)
            if problem is not None:
                raise core.InvalidOrder(f"{self._venue} {iid.symbol}: {problem}")
        t, s = ("above", "below") if stop.side is OrderSide.SELL else ("below", "above")
        params: dict[str, Any] = {
            "symbol": market["id"],
            "side": stop.side.value.upper(),
            "quantity": str(stop.qty),
            "listClientOrderId": f"{parent_order_id(stop.client_order_id) or stop.client_order_id}-oco",
            f"{t}Type": "TAKE_PROFIT",
            f"{t}StopPrice": str(target.price),
            f"{t}ClientOrderId": target.client_order_id,
            f"{s}Type": "STOP_LOSS" if stop.price is None else "STOP_LOSS_LIMIT",
            f"{s}StopPrice": str(stop.trigger_price),
            f"{s}ClientOrderId": stop.client_order_id,
            "newOrderRespType": "FULL",
        }
        if stop.price is not None:
            params[f"{s}Price"] = str(stop.price)
            params[f"{s}TimeInForce"] = "GTC"
        try:
            raw = await self._call("privatePostOrderListOco", params, resend=stop)
        except (core.VenueUnavailable, core.InvalidOrder) as exc:
            # lost ack or duplicate ids: the list may stand; ask for its legs before reporting failure
            try:
                return await self._legs(iid, stop, target)
            except core.SmcAgentError:
                raise exc from None
        reports = {
            str(r.get("clientOrderId")): self._report(iid, self.exchange.parse_order(r, market))
            for r in raw.get("orderReports") or []
        }
        found = reports.get(stop.client_order_id), reports.get(target.client_order_id)
        if found[0] is None or found[1] is None:  # an acknowledgement without the legs: ask for them
            return await self._legs(iid, stop, target)
        return found[0], found[1]

    async def _legs(
        self, iid: InstrumentId, stop: SubmitOrder, target: SubmitOrder
    ) -> tuple[OrderReport, OrderReport]:
        """The venue's reports of an OCO list's two legs, looked up by their client order ids."""
        return (
            await self.fetch_order(iid, client_order_id=stop.client_order_id),
            await self.fetch_order(iid, client_order_id=target.client_order_id),
        )

    async def cancel_order(
        self,
        instrument_id: InstrumentId,
        *,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderReport:
        """Cancel one order. Where the venue cancels conditional orders only when told so
        (:attr:`VenueQuirks.cancel_stop_params`), a stop is addressed as one: known stops at once,
        an order the venue does not find as a plain one is tried again as a stop."""
        stop_params = dict(self.quirks.cancel_stop_params)
        if venue_order_id is None:
            found = await self.fetch_order(instrument_id, client_order_id=client_order_id)
            venue_order_id = found.venue_order_id
        first, second = ({}, stop_params) if venue_order_id not in self._stop_ids else (stop_params, {})
        try:
            raw = await self._call("cancel_order", venue_order_id, instrument_id.symbol, first)
        except core.OrderNotFound:
            if not stop_params:
                raise
            raw = await self._call("cancel_order", venue_order_id, instrument_id.symbol, second)
        if not self.quirks.cancel_returns_full_order:
            return await self.fetch_order(instrument_id, venue_order_id=venue_order_id)
        return self._report(instrument_id, raw)

    async def fetch_order(
        self,
        instrument_id: InstrumentId,
        *,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderReport:
        if client_order_id is None and venue_order_id is None:
            raise core.ConfigError("fetch_order needs a client_order_id or a venue_order_id")
        q = self.quirks
        symbol = (await self._market(instrument_id))["symbol"]
        if venue_order_id is not None:
            raw = await self._call("fetch_order", venue_order_id, symbol, dict(q.fetch_order_params))
        elif q.lookup_by_client_id_via_open_orders:
            rows = await self._call(
                "fetch_open_orders", symbol, None, None, {q.client_id_lookup_param: client_order_id}
            )
            if not rows:
                raise core.OrderNotFound(f"{self._venue}: no order with client id {client_order_id}")
            raw = rows[0]
        else:
            params = {q.client_id_lookup_param: client_order_id, **q.fetch_order_params}
            raw = await self._call("fetch_order", None, symbol, params)
        return self._report(instrument_id, raw)

    async def fetch_open_orders(self, instrument_id: InstrumentId | None = None) -> Sequence[OrderReport]:
        symbol = None if instrument_id is None else instrument_id.symbol
        rows = await self._call("fetch_open_orders", symbol)
        return [self._report(InstrumentId(self._venue, r["symbol"]), r) for r in rows]

    @property
    def history_limits(self) -> HistoryLimits:
        return HistoryLimits(window_ms=self.quirks.history_window_ms, page=self.quirks.history_page)

    async def fetch_fills(
        self,
        instrument_id: InstrumentId,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Fill]:
        params = {} if until_ms is None else {"until": until_ms}  # ccxt's unified end of the range
        rows = await self._call("fetch_my_trades", instrument_id.symbol, since_ms, limit, params)
        return [_fill(instrument_id, t) for t in rows]

    async def fetch_order_fills(
        self, instrument_id: InstrumentId, venue_order_id: VenueOrderId
    ) -> Sequence[Fill]:
        """The executions of one order with the fee charged on each, in the currency charged (Binance
        reports an order's fees only in its trades; both venues charge a spot buy's fee in the coin
        bought)."""
        symbol = (await self._market(instrument_id))["symbol"]
        rows = await self._call("fetch_order_trades", venue_order_id, symbol)
        return [_fill(instrument_id, t) for t in rows]

    # -- dead-man switch -----------------------------------------------------------------------------
    @property
    def has_dead_man_switch(self) -> bool:
        return self.quirks.dead_man_method is not None

    async def arm_dead_man_switch(self, instrument_id: InstrumentId, window_s: float) -> None:
        """(Re)start the venue's countdown: if not refreshed within ``window_s``, it cancels all orders."""
        q = self.quirks
        if q.dead_man_method is None:
            raise core.ConfigError(f"{self._venue} offers no dead-man switch")
        params: dict[str, Any] = {
            q.dead_man_window_param: round(window_s * 1000 / q.dead_man_window_unit_ms),
            **q.dead_man_extra,
        }
        if q.dead_man_per_symbol:
            params["symbol"] = (await self._market(instrument_id))["id"]
        await self._call(q.dead_man_method, params)

    # -- market data ----------------------------------------------------------------------------
    async def fetch_candles(
        self,
        instrument_id: InstrumentId,
        timeframe: str,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Candle]:
        """Closed candles only. The venue's newest row is the forming candle: one extra row is asked
        for, so every row returned has a successor and is known to be closed."""
        timeframe_ms(timeframe)  # validates
        want = min(limit or self.quirks.max_ohlcv_limit - 1, self.quirks.max_ohlcv_limit - 1)
        raw = await self._call("fetch_ohlcv", instrument_id.symbol, timeframe, since_ms, want + 1)
        if not isinstance(raw, list):
            raise core.VenueUnavailable(
                f"{self._venue}: candles answered with {type(raw).__name__}, not rows"
            )
        timed = {}
        for r in raw:  # a row without a usable open time cannot even be placed: refused below
            try:
                timed[int(r[0])] = r
            except (TypeError, ValueError, IndexError):
                self._refuse_kline(instrument_id, timeframe, r, "no open time")
        rows = [timed[t] for t in sorted(timed)]
        closed = rows[:want] if len(rows) > want else rows[:-1]
        candles = []
        for r in closed:
            try:
                candle = self._row_candle(instrument_id, timeframe, r)
                candle.validate()  # (a time off the grid is real: Binance's 2018 outage; repaired later)
            except (TypeError, ValueError, IndexError) as exc:
                self._refuse_kline(instrument_id, timeframe, r, str(exc))
                continue
            candles.append(candle)
        return candles

    def _refuse_kline(self, instrument_id: InstrumentId, timeframe: str, row: Any, why: str) -> None:
        """A malformed or impossible candle from the venue never reaches a strategy: said loudly and
        dropped (the series has a gap there, which the engine trades across as any gap)."""
        self.klines_refused += 1
        log.error(
            "ALERT malformed candle from the venue refused",
            venue=self._venue,
            symbol=instrument_id.symbol,
            timeframe=timeframe,
            row=repr(row)[:200],
            reason=why[:200],
        )

    @property
    def can_watch(self) -> bool:
        return hasattr(self.exchange, "watch_ohlcv")

    async def watch_candles(self, instrument_id: InstrumentId, timeframe: str) -> Sequence[Candle]:
        """Wait for the next candle update on the venue's WebSocket (ccxt.pro ``watch_ohlcv``).

        The rows may include the forming candle: use them as a signal, take closed candles from
        :meth:`fetch_candles` (the live stream does exactly that)."""
        if not self.can_watch:
            raise core.ConfigError(f"{self._venue}: this client has no WebSocket support (streaming=False)")
        rows = await self._call("watch_ohlcv", instrument_id.symbol, timeframe)
        return [self._row_candle(instrument_id, timeframe, r) for r in rows]

    def _row_candle(self, instrument_id: InstrumentId, timeframe: str, r: Sequence[Any]) -> Candle:
        """One ccxt OHLCV row (a venue that reports no volume: 0); raises on a field that is no number."""
        o, h, low, c = (float(r[k]) for k in range(1, 5))
        return Candle(
            self._venue, instrument_id.symbol, timeframe, int(r[0]), o, h, low, c, float(r[5] or 0.0)
        )

    async def fetch_ticker(self, instrument_id: InstrumentId) -> dict[str, Any]:
        ticker: dict[str, Any] = await self._call("fetch_ticker", instrument_id.symbol)
        return ticker

    async def fetch_order_book(self, instrument_id: InstrumentId, limit: int | None = None) -> dict[str, Any]:
        book: dict[str, Any] = await self._call("fetch_order_book", instrument_id.symbol, limit)
        return book

    # -- shapes ---------------------------------------------------------------------------------
    def _qty_step(self, symbol: Any) -> Decimal:
        """The lot step of ``symbol`` (ccxt's unified symbol) from the markets loaded, else the smallest
        one :meth:`_instrument` assumes. ccxt's quantities are floats, the step tells a quantity short
        by whole lots from one short by rounding."""
        market = (self.exchange.markets or {}).get(symbol) or {}
        return _dec((market.get("precision") or {}).get("amount")) or _SMALLEST_STEP

    def _report(self, instrument_id: InstrumentId, raw: dict[str, Any]) -> OrderReport:
        filled = _dec(raw.get("filled")) or Decimal(0)
        status = _CCXT_STATUS.get(str(raw.get("status")), OrderStatus.ACCEPTED)
        # ccxt reports spot stops as "market"/"limit" with a triggerPrice (Binance STOP_LOSS[_LIMIT],
        # Bybit conditional orders): the trigger price tells them apart from plain orders
        is_stop = raw.get("triggerPrice") not in (None, 0, "0", "")
        order_type = OrderType(raw["type"])
        if is_stop:
            order_type = OrderType.STOP_LIMIT if order_type is OrderType.LIMIT else OrderType.STOP_MARKET
            self._stop_ids.add(str(raw["id"]))
            if status is OrderStatus.ACCEPTED and filled == 0 and _triggered(raw.get("info") or {}):
                status = OrderStatus.TRIGGERED
        if status in (OrderStatus.ACCEPTED, OrderStatus.TRIGGERED) and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        qty = _dec(raw.get("amount")) or Decimal(0)
        if status is OrderStatus.FILLED and qty - filled >= self._qty_step(raw.get("symbol")) / 2:
            # ended for less than its quantity: ccxt reads Bybit spot's PartiallyFilledCanceled (a
            # market order the venue stopped filling, a partly filled order canceled) as "closed".
            # FILLED with less than the quantity never ends the order in the trading engine's books
            status = OrderStatus.CANCELED
        elif status is OrderStatus.REJECTED and filled > 0:  # refused after filling in part
            status = OrderStatus.CANCELED
        ts = raw.get("lastUpdateTimestamp") or raw.get("timestamp") or 0
        return OrderReport(
            instrument_id=instrument_id,
            client_order_id=ClientOrderId(str(raw.get("clientOrderId") or "")),
            venue_order_id=VenueOrderId(str(raw["id"])),
            side=OrderSide(raw["side"]),
            order_type=order_type,
            status=status,
            qty=qty,
            filled_qty=filled,
            price=_dec(raw.get("price")) if order_type in _PRICED_TYPES else None,
            avg_fill_price=_dec(raw.get("average")) if filled else None,
            ts_event=int(ts),
        )


def _triggered(info: dict[str, Any]) -> bool:
    """Whether an open stop order has been triggered, from the venue's own order record: Bybit
    names the untriggered state (``orderStatus: Untriggered``), Binance spot marks a stop that
    has not triggered as not working (``isWorking: false``)."""
    if "orderStatus" in info:
        return str(info["orderStatus"]) != "Untriggered"
    if "isWorking" in info:
        return info["isWorking"] in (True, "true", "True")
    return False


def _fill(instrument_id: InstrumentId, t: dict[str, Any]) -> Fill:
    """One ccxt trade structure of ours as a fill."""
    fee = t.get("fee") or {}
    return Fill(
        instrument_id=instrument_id,
        client_order_id=ClientOrderId(
            str((t.get("info") or {}).get("orderLinkId") or t.get("clientOrderId") or "")
        ),
        venue_order_id=VenueOrderId(str(t["order"])) if t.get("order") else None,
        trade_id=TradeId(str(t["id"])),
        side=OrderSide(t["side"]),
        qty=_dec(t["amount"]) or Decimal(0),
        price=_dec(t["price"]) or Decimal(0),
        fee=abs(_dec(fee.get("cost")) or Decimal(0)),
        fee_currency=str(fee.get("currency") or ""),
        liquidity=LiquiditySide.MAKER if t.get("takerOrMaker") == "maker" else LiquiditySide.TAKER,
        ts_event=int(t["timestamp"]),
    )
