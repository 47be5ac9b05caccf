"""Venue-neutral account, orders and fills of the exchange simulator.

Fees are charged at ``fee_rate`` in the asset the trade brings in, as Binance and Bybit spot charge
them (without a fee-discount coin): a buy pays in the base asset (buying 0.01 BTC credits 0.00999 BTC),
a sell in the quote asset. A buy therefore reserves only its quote cost. A limit order that crosses the
current price fills at once (taker); resting limit orders fill when a replayed candle closes through
their price, at the better of the limit and the candle open (maker).

Stop orders (a ``trigger_price``) rest untriggered until the price feed reaches the trigger: a
closed candle whose range touches it, or the current price crossing it. A stop-market order then
fills at the trigger (at the candle open when the candle gapped through it); a stop-limit order
becomes a limit order, filling at once when its limit crosses the trigger-time price, else resting.
``lock_on_trigger`` reserves the balance only when the stop triggers (Bybit spot conditional
orders; a stop that cannot then be funded is rejected), else at placement (Binance spot).

An OCO list (Binance spot) is a target leg (a resting LIMIT_MAKER, or a TAKE_PROFIT market order
triggered at its price) and a stop leg sharing one reservation: when one leg triggers or fills, even
in part, the other expires, and canceling either leg cancels both.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from smc_agent.venues.simulator.feed import Bar, SymbolSpec

OPEN_STATES = frozenset({"NEW", "PARTIALLY_FILLED"})


class SimError(Exception):
    """A refusal the venue modules translate into their own error codes."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


@dataclass(slots=True)
class SimTrade:
    trade_id: int
    order_id: int
    client_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    time_ms: int
    is_maker: bool

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty


DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


def history_window(start: int | None, end: int | None, span_ms: int) -> tuple[int | None, int | None]:
    """The inclusive time range a venue's trade-history query covers: both ends at most ``span_ms``
    apart, one end given = that end and ``span_ms`` from it, none = no range (the venue's most recent
    trades). Binance spot (24 h) and Bybit (7 days) document this rule for their trade lists."""
    if start is not None and end is not None:
        if end - start > span_ms:
            raise SimError("history_window", f"endTime - startTime > {span_ms} ms")
        return start, end
    if start is not None:
        return start, start + span_ms
    if end is not None:
        return end - span_ms, end
    return None, None


@dataclass(slots=True)
class SimOrder:
    order_id: int
    client_id: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # LIMIT | MARKET (what a stop becomes once triggered)
    time_in_force: str
    qty: Decimal
    price: Decimal | None
    created_ms: int
    status: str = "NEW"
    filled: Decimal = Decimal(0)
    quote_filled: Decimal = Decimal(0)
    updated_ms: int = 0
    locked: Decimal = Decimal(0)
    trades: list[SimTrade] = field(default_factory=list)
    trigger_price: Decimal | None = None
    trigger_direction: int = 0  # 1: triggers when the price rises to the trigger, 2: when it falls
    triggered: bool = False
    triggered_ms: int = 0
    lock_on_trigger: bool = False
    price_on_created: Decimal | None = None
    list_id: int = -1  # an OCO order list's id (both legs), -1 for a plain order
    partner: SimOrder | None = field(default=None, repr=False, compare=False)  # the other leg of its OCO list

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def is_stop(self) -> bool:
        return self.trigger_price is not None

    @property
    def waiting_trigger(self) -> bool:
        return self.is_stop and not self.triggered and self.is_open

    @property
    def avg_price(self) -> Decimal:
        return self.quote_filled / self.filled if self.filled else Decimal(0)


@dataclass(slots=True)
class Balance:
    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


class Book:
    """Balances, orders and trades of the single simulated account."""

    def __init__(
        self,
        specs: dict[str, SymbolSpec],
        balances: dict[str, Decimal],
        fee_rate: Decimal,
        participation: Decimal | None = None,
    ) -> None:
        self.specs = specs
        self.fee_rate = fee_rate
        self.participation = participation  # share of a candle's volume a resting order may take
        self.balances = {asset: Balance(free=amount) for asset, amount in balances.items()}
        self.orders: dict[int, SimOrder] = {}
        self.trades: list[SimTrade] = []
        self._order_ids = itertools.count(1_000_001)
        self._list_ids = itertools.count(1)
        self._trade_ids = itertools.count(5_000_001)
        self.listeners: list[Callable[[SimOrder], None]] = []

    # -- queries ------------------------------------------------------------------------------
    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def find(self, symbol: str, order_id: int | None, client_id: str | None) -> SimOrder:
        for order in self.orders.values():
            if order.symbol != symbol:
                continue
            if (order_id is not None and order.order_id == order_id) or (
                order_id is None and client_id and order.client_id == client_id
            ):
                return order
        raise SimError("unknown_order", f"{symbol} {order_id or client_id}")

    def open_orders(self, symbol: str | None) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    # -- commands -----------------------------------------------------------------------------
    def place(
        self,
        *,
        symbol: str,
        side: str,
        type_: str,
        qty: Decimal,
        price: Decimal | None,
        time_in_force: str,
        client_id: str,
        now_ms: int,
        last_price: Decimal,
        trigger_price: Decimal | None = None,
        direction_from_side: bool = True,
        lock_on_trigger: bool = False,
    ) -> SimOrder:
        """Place an order; with ``trigger_price`` a stop order. ``direction_from_side``: a sell stop
        triggers on a falling price, a buy stop on a rising one, and a stop that would trigger at
        once is refused (Binance spot STOP_LOSS); else the direction is the side of the current price
        the trigger lies on (Bybit spot conditional orders)."""
        spec = self.specs.get(symbol)
        if spec is None:
            raise SimError("unknown_symbol", symbol)
        if side not in ("BUY", "SELL") or type_ not in ("LIMIT", "MARKET"):
            raise SimError("bad_param", f"side={side} type={type_}")
        if type_ == "LIMIT" and price is None:
            raise SimError("bad_param", "price")
        self._check_filters(spec, qty, price if price is not None else trigger_price, last_price)
        direction = 0
        if trigger_price is not None:
            if trigger_price <= 0 or trigger_price % spec.tick_size != 0:
                raise SimError("price_filter", f"trigger price {trigger_price} (tick {spec.tick_size})")
            if direction_from_side:
                direction = 1 if side == "BUY" else 2
            else:
                direction = 1 if trigger_price > last_price else 2
            if trigger_price == last_price or (direction == 1) != (trigger_price > last_price):
                raise SimError("would_trigger", f"trigger {trigger_price}, last price {last_price}")
        if client_id and any(o.client_id == client_id for o in self.orders.values()):
            raise SimError("duplicate_client_id", client_id)
        order = SimOrder(
            order_id=next(self._order_ids),
            client_id=client_id or f"sim{next(self._trade_ids)}",
            symbol=symbol,
            side=side,
            type=type_,
            time_in_force=time_in_force,
            qty=qty,
            price=price,
            created_ms=now_ms,
            updated_ms=now_ms,
            trigger_price=trigger_price,
            trigger_direction=direction,
            lock_on_trigger=trigger_price is not None and lock_on_trigger,
            price_on_created=last_price,
        )
        if order.is_stop:
            if not order.lock_on_trigger:
                self._lock(spec, order, price if price is not None else trigger_price or last_price)
            self.orders[order.order_id] = order
            self._notify(order)
            return order
        crosses = type_ == "MARKET" or (
            price is not None and (price >= last_price if side == "BUY" else price <= last_price)
        )
        reserve_price = last_price if type_ == "MARKET" else price
        assert reserve_price is not None
        self._lock(spec, order, reserve_price)
        self.orders[order.order_id] = order
        if crosses:
            self._fill(spec, order, _taker_price(side, price, last_price), now_ms, maker=False)
        elif time_in_force in ("IOC", "FOK"):
            self._close(spec, order, "EXPIRED", now_ms)
        else:
            self._notify(order)
        return order

    def place_oco(
        self,
        *,
        symbol: str,
        side: str,
        qty: Decimal,
        target_price: Decimal,
        target_client_id: str,
        target_conditional: bool,
        stop_price: Decimal,
        stop_limit_price: Decimal | None,
        stop_client_id: str,
        now_ms: int,
        last_price: Decimal,
    ) -> tuple[SimOrder, SimOrder]:
        """Place an OCO list (Binance spot): a target leg and a stop leg sharing one reservation. The
        target is a LIMIT_MAKER resting at its price, or (``target_conditional``) a TAKE_PROFIT market
        order triggered there. When one leg triggers or fills, even in part, the other expires;
        canceling one leg cancels both. Sell: target above the last price, stop below; buy: reversed."""
        spec = self.specs.get(symbol)
        if spec is None:
            raise SimError("unknown_symbol", symbol)
        if side not in ("BUY", "SELL"):
            raise SimError("bad_param", f"side={side}")
        ordered = (
            target_price > last_price > stop_price
            if side == "SELL"
            else target_price < last_price < stop_price
        )
        if not ordered:
            raise SimError(
                "oco_prices", f"{side}: target {target_price}, last price {last_price}, stop {stop_price}"
            )
        for price in (target_price, stop_price, stop_limit_price):
            if price is not None:
                self._check_filters(spec, qty, price, last_price)
        for cid in (target_client_id, stop_client_id):
            if cid and any(o.client_id == cid for o in self.orders.values()):
                raise SimError("duplicate_client_id", cid)
        list_id = next(self._list_ids)
        falling, rising = (2, 1) if side == "SELL" else (1, 2)  # the stop's direction, the target's
        legs = []
        for cid, type_, price, trigger, direction in (
            (
                stop_client_id,
                "LIMIT" if stop_limit_price is not None else "MARKET",
                stop_limit_price,
                stop_price,
                falling,
            ),
            (
                target_client_id,
                "MARKET" if target_conditional else "LIMIT",
                None if target_conditional else target_price,
                target_price if target_conditional else None,
                rising if target_conditional else 0,
            ),
        ):
            legs.append(
                SimOrder(
                    order_id=next(self._order_ids),
                    client_id=cid or f"sim{next(self._trade_ids)}",
                    symbol=symbol,
                    side=side,
                    type=type_,
                    time_in_force="GTC",
                    qty=qty,
                    price=price,
                    created_ms=now_ms,
                    updated_ms=now_ms,
                    trigger_price=trigger,
                    trigger_direction=direction,
                    price_on_created=last_price,
                    list_id=list_id,
                )
            )
        stop, target = legs
        stop.partner, target.partner = target, stop
        # one reservation for the list, at the dearer leg's price for a buy; held by the stop leg, and
        # handed to whichever leg executes
        self._lock(spec, stop, max(target_price, stop_limit_price or stop_price))
        for leg in legs:
            self.orders[leg.order_id] = leg
            self._notify(leg)
        return stop, target

    def cancel(self, symbol: str, order_id: int | None, client_id: str | None, now_ms: int) -> SimOrder:
        """Cancel an open order; a leg of an OCO list cancels the whole list."""
        order = self.find(symbol, order_id, client_id)
        if not order.is_open:
            raise SimError("unknown_order", f"order {order.order_id} is {order.status}")
        spec = self.specs[symbol]
        self._close(spec, order, "CANCELED", now_ms)
        partner = order.partner
        if partner is not None and partner.is_open:
            self._close(spec, partner, "CANCELED", now_ms)
        return order

    def on_closed_bars(self, symbol: str, bars: list[Bar], now_ms: int) -> None:
        """Fill resting limit orders that the newly closed candles traded through."""
        spec = self.specs.get(symbol)
        if spec is None:
            return
        for bar in bars:
            # a trigger the bar opened beyond was reached first, at the open: it goes first (of an OCO
            # list whose stop and target one bar both reaches, the one the open passed executes)
            waiting = [o for o in self.open_orders(symbol) if o.waiting_trigger]
            waiting.sort(key=lambda o: not _reached(o, bar.open, bar.open))
            for order in waiting:
                if order.waiting_trigger:  # not expired by its list's other leg meanwhile
                    self._trigger_on_bar(spec, order, bar, now_ms)
            for order in self.open_orders(symbol):
                if order.waiting_trigger or order.type != "LIMIT":
                    continue
                assert order.price is not None
                capacity = self._capacity(spec, bar)
                if capacity <= 0:
                    continue
                if order.side == "BUY" and bar.low <= order.price:
                    self._fill(spec, order, min(order.price, bar.open), now_ms, maker=True, qty=capacity)
                elif order.side == "SELL" and bar.high >= order.price:
                    self._fill(spec, order, max(order.price, bar.open), now_ms, maker=True, qty=capacity)

    def on_price(self, symbol: str, price: Decimal, now_ms: int) -> None:
        """Trigger the stop orders the current price has reached."""
        spec = self.specs.get(symbol)
        if spec is None:
            return
        for order in self.open_orders(symbol):
            if order.waiting_trigger and _reached(order, price, price):
                self._trigger(spec, order, price, now_ms)

    def _trigger_on_bar(self, spec: SymbolSpec, order: SimOrder, bar: Bar, now_ms: int) -> None:
        if not _reached(order, bar.low, bar.high):
            return
        assert order.trigger_price is not None
        # a candle that opened beyond the trigger gapped through it: the stop executes at the open
        if order.trigger_direction == 2:
            price = min(order.trigger_price, bar.open)
        else:
            price = max(order.trigger_price, bar.open)
        self._trigger(spec, order, price, now_ms)

    def _trigger(self, spec: SymbolSpec, order: SimOrder, price: Decimal, now_ms: int) -> None:
        """The stop's trigger was reached at ``price``: it becomes a market or limit order."""
        self._activate(order, now_ms)
        order.triggered = True
        order.triggered_ms = order.updated_ms = now_ms
        if order.lock_on_trigger:
            try:
                self._lock(spec, order, order.price if order.price is not None else price)
            except SimError:  # placed when triggered, refused then: the venue reports it rejected
                order.status = "REJECTED"
                self._notify(order)
                return
        if order.type == "MARKET":
            self._fill(spec, order, price, now_ms, maker=False)
            return
        assert order.price is not None
        if order.price <= price if order.side == "SELL" else order.price >= price:
            self._fill(spec, order, _taker_price(order.side, order.price, price), now_ms, maker=False)
        elif order.time_in_force in ("IOC", "FOK"):
            self._close(spec, order, "EXPIRED", now_ms)
        else:
            self._notify(order)

    def _capacity(self, spec: SymbolSpec, bar: Bar) -> Decimal:
        """How much a resting order can fill in one candle: ``participation`` of its volume."""
        if self.participation is None:
            return Decimal("Infinity")
        return (bar.volume * self.participation / spec.step_size).to_integral_value(
            rounding=ROUND_DOWN
        ) * spec.step_size

    # -- internals ----------------------------------------------------------------------------
    def _check_filters(self, spec: SymbolSpec, qty: Decimal, price: Decimal | None, last: Decimal) -> None:
        if qty < spec.min_qty or qty > spec.max_qty or qty % spec.step_size != 0:
            raise SimError("lot_size", f"quantity {qty} (step {spec.step_size}, min {spec.min_qty})")
        if price is not None and (price <= 0 or price % spec.tick_size != 0):
            raise SimError("price_filter", f"price {price} (tick {spec.tick_size})")
        if qty * (price if price is not None else last) < spec.min_notional:
            raise SimError("min_notional", f"notional below {spec.min_notional}")

    def _lock(self, spec: SymbolSpec, order: SimOrder, price: Decimal) -> None:
        if order.side == "BUY":
            asset, amount = spec.quote, order.qty * price
        else:
            asset, amount = spec.base, order.qty
        bal = self.balance(asset)
        if bal.free < amount:
            raise SimError("insufficient_balance", f"{asset} free {bal.free} < {amount}")
        bal.free -= amount
        bal.locked += amount
        order.locked = amount

    def _fill(
        self,
        spec: SymbolSpec,
        order: SimOrder,
        price: Decimal,
        now_ms: int,
        *,
        maker: bool,
        qty: Decimal | None = None,
    ) -> None:
        self._activate(order, now_ms)
        remaining = order.qty - order.filled
        qty = remaining if qty is None else min(qty, remaining)
        quote = (qty * price).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
        base_bal, quote_bal = self.balance(spec.base), self.balance(spec.quote)
        release = order.locked if qty == remaining else order.locked * qty / remaining
        if order.side == "BUY":
            fee, fee_asset = (qty * self.fee_rate).quantize(Decimal("0.00000001")), spec.base
            quote_bal.locked -= release
            quote_bal.free += release - quote
            base_bal.free += qty - fee
        else:
            fee, fee_asset = (quote * self.fee_rate).quantize(Decimal("0.00000001")), spec.quote
            base_bal.locked -= release
            quote_bal.free += quote - fee
        order.locked -= release
        trade = SimTrade(
            next(self._trade_ids),
            order.order_id,
            order.client_id,
            order.symbol,
            order.side,
            price,
            qty,
            fee,
            fee_asset,
            now_ms,
            maker,
        )
        order.trades.append(trade)
        self.trades.append(trade)
        order.filled += qty
        order.quote_filled += quote
        order.status = "FILLED" if order.filled == order.qty else "PARTIALLY_FILLED"
        order.updated_ms = now_ms
        self._notify(order)

    def _activate(self, order: SimOrder, now_ms: int) -> None:
        """A leg of an OCO list executes: the other leg expires and hands over the list's reservation."""
        partner = order.partner
        if partner is None or not partner.is_open:
            return
        order.locked += partner.locked
        partner.locked = Decimal(0)
        partner.status = "EXPIRED"
        partner.updated_ms = now_ms
        self._notify(partner)

    def _close(self, spec: SymbolSpec, order: SimOrder, status: str, now_ms: int) -> None:
        asset = spec.quote if order.side == "BUY" else spec.base
        bal = self.balance(asset)
        bal.locked -= order.locked
        bal.free += order.locked
        order.locked = Decimal(0)
        order.status = status
        order.updated_ms = now_ms
        self._notify(order)

    def _notify(self, order: SimOrder) -> None:
        for listener in self.listeners:
            listener(order)


def _reached(order: SimOrder, low: Decimal, high: Decimal) -> bool:
    """Whether prices from ``low`` to ``high`` reach the stop's trigger in its direction."""
    assert order.trigger_price is not None
    if order.trigger_direction == 1:
        return high >= order.trigger_price
    return low <= order.trigger_price


def _taker_price(side: str, limit: Decimal | None, last: Decimal) -> Decimal:
    """Price of an immediately executing order: the last price, never worse than the limit."""
    if limit is None:
        return last
    return min(limit, last) if side == "BUY" else max(limit, last)
