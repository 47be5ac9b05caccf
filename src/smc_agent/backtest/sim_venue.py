"""Simulated venue for backtests (and paper trading): an ``ExecutionClient`` that matches working
orders against each closed candle.

Rules (candle ``o h l c``):

* market orders fill at the **open of the next candle** after they were sent (taker, slipped);
* stop orders trigger when the range touches the trigger; a gap through the trigger fills at the
  open, otherwise at the trigger (taker, slipped); what a volume cap leaves of a triggered stop is a
  market order (the next candles' open); a stop-limit becomes a limit when triggered, filled at once
  (taker, at the trigger or the gapped open, slipped but never past its limit) when that price is
  marketable; else at its limit when the rest of the bar reaches it (all of the bar after a trigger at
  the open; only the close after an intrabar trigger, as what came between is unknown); from the next
  bar on it is a plain limit;
* limit orders fill when the range touches the price, at the price (maker), or at the open when the
  candle opens through it (taker);
* a position's take-profit (the engine's ``-tp`` child) executes as the spot venues execute it live
  (``FillModel.take_profit="market"``, the default): a market order triggered when the range touches
  its price, filled there or at the open it gapped to (taker, slipped); with ``"limit"`` it is a limit;
* the open comes first: orders the candle opens through fill there before any level inside it;
  several levels inside one candle: ``stop_first`` processes stops before limits (so a stop-loss
  and a take-profit inside one bar resolve as the loss), ``nearest_first`` by distance from the open;
* protective orders attached to a fill at the open (a market order, or a resting order the candle
  opened through) are matched against the rest of that candle; those attached to an intrabar fill
  are matched for stops only (the conservative reading);
* reduce-only orders are clipped to the position (a spot account's: to whole lots of what the bot's
  books hold) and cancelled when nothing is left to reduce;
* a spot account (``spot=True``) pays a buy's fee in the coin bought and a sell's in the quote
  currency, as Binance and Bybit spot do; the bot's books write off the dust below the lot step that
  an exit leaves (:mod:`~smc_agent.backtest.spot_books`), as the live database does;
* optional volume participation caps the candle's fills, all orders together, at a fraction of its
  volume.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.spot_books import SpotBooks
from smc_agent.core.candle import Candle
from smc_agent.core.clock import Clock
from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderType, TimeInForce
from smc_agent.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
)
from smc_agent.core.ids import InstrumentId, TradeId, VenueOrderId
from smc_agent.core.instrument import Instrument
from smc_agent.core.money import ZERO, is_multiple, round_to_increment, to_decimal
from smc_agent.core.ports import EventHandler
from smc_agent.core.position import Booking, symbol_assets
from smc_agent.execution.ids import child_role, is_take_profit

_OPEN, _FULL_BAR, _STOPS_ONLY = 0, 1, 2
_MARKET = OrderType.MARKET
_BUY = OrderSide.BUY
_TAKER = LiquiditySide.TAKER
_MAKER = LiquiditySide.MAKER
_STOP_MARKET = OrderType.STOP_MARKET
_STOPS = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
_GTC = TimeInForce.GTC


class _Working:
    __slots__ = (
        "cmd",
        "filled",
        "is_stop",
        "level",
        "market",
        "phase",
        "take_profit",
        "triggered",
        "venue_order_id",
    )

    def __init__(
        self, cmd: SubmitOrder, venue_order_id: VenueOrderId, phase: int, *, take_profit: bool = False
    ) -> None:
        self.cmd = cmd
        self.take_profit = take_profit  # a take-profit that executes as a market order at its price
        self.venue_order_id = venue_order_id
        self.filled = ZERO
        self.triggered = cmd.order_type not in _STOPS
        self.is_stop = not self.triggered
        self.market = cmd.order_type is _MARKET  # fills at the open: a market order, or a triggered stop
        trigger_or_price = cmd.trigger_price if self.is_stop else cmd.price
        self.level = float(trigger_or_price) if trigger_or_price is not None else 0.0
        self.phase = phase  # when in the bar it was placed: decides what it may match this bar


class SimulatedVenue:
    def __init__(
        self,
        *,
        clock: Clock,
        instruments: Sequence[Instrument],
        starting_cash: Decimal,
        fill_model: FillModel | None = None,
        leverage: Decimal = Decimal(1),
        quote_currency: str = "USDT",
        spot: bool = False,
    ) -> None:
        self.clock = clock
        self.spot = spot  # a spot account: no short selling (a sell beyond the coins held is refused)
        # a spot account's buys pay their fee in the coin bought; the bot's books write off the dust
        self._books = SpotBooks(quote_currency) if spot else None
        self.instruments: Mapping[InstrumentId, Instrument] = {i.id: i for i in instruments}
        self.model = fill_model or FillModel()
        self.leverage = leverage
        self.quote_currency = quote_currency
        self.cash = starting_cash
        self.positions: dict[InstrumentId, Decimal] = {}
        self.last_close: dict[tuple[str, str], float] = {}
        self._working: dict[InstrumentId, list[_Working]] = {}
        # per book: (any order acts on every bar, lowest level a rising price touches, highest level a
        # falling price touches) -- recomputed when the book changes, read on every candle
        self._touch: dict[InstrumentId, tuple[bool, float, float]] = {}
        self._known: set[str] = set()
        self._sink: EventHandler = _drop
        self._seq = 0
        self._trades = 0
        self._phase = _FULL_BAR
        self._bar_ts = 0
        self._volume_used = ZERO  # of the candle being matched: the volume cap is per candle

    # ------------------------------------------------------------ ExecutionClient
    def connect(self, sink: EventHandler) -> None:
        self._sink = sink

    def submit(self, command: SubmitOrder) -> None:
        cid = command.client_order_id
        if cid in self._known:
            return  # idempotent: the venue already has this client order id
        self._known.add(cid)
        now = self.clock.timestamp_ms()
        for other in command.cancel_first:  # a close: the orders it replaces go first
            self.cancel(
                CancelOrder(
                    ts_event=now,
                    ts_init=now,
                    strategy_id=command.strategy_id,
                    instrument_id=command.instrument_id,
                    client_order_id=other,
                )
            )
        reason = self._validate(command)
        if reason is not None:
            self._emit(
                OrderRejected(
                    ts_event=now,
                    ts_init=now,
                    strategy_id=command.strategy_id,
                    instrument_id=command.instrument_id,
                    client_order_id=cid,
                    reason=reason,
                )
            )
            return
        self._seq += 1
        w = _Working(
            command,
            VenueOrderId(f"sim-{self._seq}"),
            self._phase,
            take_profit=self.model.take_profit == "market" and is_take_profit(command),
        )
        self._working.setdefault(command.instrument_id, []).append(w)
        self._retouch(command.instrument_id)
        self._sink(
            OrderAccepted(
                ts_event=now,
                ts_init=now,
                strategy_id=command.strategy_id,
                instrument_id=command.instrument_id,
                client_order_id=cid,
                venue_order_id=w.venue_order_id,
            )
        )

    def cancel(self, command: CancelOrder) -> None:
        now = self.clock.timestamp_ms()
        for w in self._working.get(command.instrument_id, ()):
            if w.cmd.client_order_id == command.client_order_id:
                self._remove(w)
                self._retouch(command.instrument_id)
                self._canceled(w, "canceled by request")
                return
        self._emit(
            OrderCancelRejected(
                ts_event=now,
                ts_init=now,
                strategy_id=command.strategy_id,
                instrument_id=command.instrument_id,
                client_order_id=command.client_order_id,
                reason="order not open",
            )
        )

    def on_candle(self, candle: Candle) -> None:
        key = candle[:2]  # (venue, symbol): equal to (and hashes like) the InstrumentId
        book = self._working.get(key)  # type: ignore[call-overload]
        if book:
            every_bar, up, down = self._touch[key]  # type: ignore[index]
            if every_bar or candle.high >= up or candle.low <= down:
                self._bar_ts = candle.open_time
                self._match(book, candle)
                self._phase = _FULL_BAR
                self._retouch(key)  # type: ignore[arg-type]
        self.last_close[key] = candle.close

    # ------------------------------------------------------------ account
    def position(self, instrument_id: InstrumentId) -> Decimal:
        return self.positions.get(instrument_id, ZERO)

    def equity(self) -> Decimal:
        eq = self.cash
        for iid, qty in self.positions.items():
            if qty and iid in self.last_close:
                eq += qty * to_decimal(self.last_close[iid])
        return eq

    def open_orders(self, instrument_id: InstrumentId | None = None) -> list[SubmitOrder]:
        books = [self._working.get(instrument_id, [])] if instrument_id else list(self._working.values())
        return [w.cmd for book in books for w in book]

    # ------------------------------------------------------------ matching
    def _match(self, book: list[_Working], c: Candle) -> None:
        self._phase = _OPEN
        self._volume_used = ZERO
        # the open comes first in any bar: market orders, then the resting orders it opened through
        # (a gap fills them there, whatever the intrabar rule); what they attach sees the whole bar
        markets = [w for w in book if w.market]
        if markets:
            slipped = self.model.slipped
            for w in markets:
                if w in book:
                    self._fill(w, slipped(c.open, w.cmd.side), c, _TAKER)
        gapped = [w for w in book if not w.market and _opened_through(w, c.open)]
        if gapped:
            self._match_resting(book, gapped, c, at_open=True)
        pending = [w for w in book if not w.market]
        self._phase = _STOPS_ONLY
        if pending:
            self._match_resting(book, pending, c, at_open=True)
        for _ in range(3):  # protective orders placed by intrabar fills: stops only, rest of this bar
            fresh = [w for w in book if w.phase == _STOPS_ONLY and w.is_stop and not w.triggered]
            if not fresh:
                break
            for w in fresh:
                w.phase = _FULL_BAR
            self._match_resting(book, fresh, c, at_open=False)
        for w in book:
            if w.phase == _STOPS_ONLY:
                w.phase = _FULL_BAR
            if w.is_stop and w.triggered:  # from the next bar on a triggered stop-limit is a plain limit
                w.is_stop = False  # (filled at a better open, as taker, when the market opens through it)

    def _match_resting(
        self, book: list[_Working], pending: list[_Working], c: Candle, *, at_open: bool
    ) -> None:
        if self.model.intrabar == "nearest_first":
            pending.sort(key=lambda w: abs(w.level - c.open))
        else:
            pending.sort(key=lambda w: 0 if w.is_stop and not w.triggered else 1)
        for w in pending:
            if w not in book:
                continue
            cmd = w.cmd
            buy = cmd.side is _BUY
            if not w.triggered:
                if (c.high < w.level) if buy else (c.low > w.level):
                    continue
                gap = (c.open >= w.level) if buy else (c.open <= w.level)
                raw = c.open if (gap and at_open) else w.level
                w.triggered = True
                if cmd.order_type is _STOP_MARKET:
                    w.market = True  # what a volume cap leaves of it fills at the next open
                    self._fill(w, self.model.slipped(raw, cmd.side), c, _TAKER)
                    continue
                assert cmd.price is not None
                limit = w.level = float(cmd.price)
                now = self.clock.timestamp_ms()
                self._emit(
                    OrderTriggered(
                        ts_event=now,
                        ts_init=now,
                        strategy_id=cmd.strategy_id,
                        instrument_id=cmd.instrument_id,
                        client_order_id=cmd.client_order_id,
                    )
                )
                if (raw <= limit) if buy else (raw >= limit):  # marketable where it triggered
                    slipped = self.model.slipped(raw, cmd.side)
                    self._fill(w, min(slipped, limit) if buy else max(slipped, limit), c, _TAKER)
                elif (
                    (c.low <= limit if buy else c.high >= limit)
                    if (gap and at_open)
                    else (c.close <= limit if buy else c.close >= limit)
                ):
                    # triggered at the open, the whole bar comes after: its range reaching the limit
                    # fills it; triggered within the bar, only its close is surely later
                    self._fill(w, limit, c, _MAKER)
                # else it rests: whether the market came back to the limit after an intrabar trigger is
                # unknown (the bar's extremes may lie before it)
                continue
            if (c.low <= w.level) if buy else (c.high >= w.level):
                through = (c.open < w.level) if buy else (c.open > w.level)
                if w.take_profit:  # a market order from its trigger on; a volume cap's rest: next open
                    w.market = True
                    raw = c.open if (through and at_open) else w.level
                    self._fill(w, self.model.slipped(raw, cmd.side), c, _TAKER)
                elif through and at_open and not w.is_stop:
                    self._fill(w, c.open, c, _TAKER)
                else:
                    self._fill(w, w.level, c, _MAKER)
            elif cmd.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                self._remove(w)
                self._canceled(w, f"{cmd.time_in_force.value}: not filled")

    def _fill(self, w: _Working, price_f: float, c: Candle, liquidity: LiquiditySide) -> None:
        cmd = w.cmd
        iid = cmd.instrument_id
        inst = self.instruments[iid]
        qty = cmd.qty - w.filled
        position = self.positions.get(iid, ZERO)
        if cmd.reduce_only:
            # a spot account's exits sell whole lots of what the bot's books hold: the dust written
            # off stays in the account, unsold (as live, where no order can sell it)
            held = position if self._books is None else self._books.qty(iid)
            reducible = -held if cmd.side is _BUY else held
            if self._books is not None:
                reducible = inst.round_qty(reducible)
            if reducible <= 0:
                self._remove(w)
                self._canceled(w, "reduce-only: position already flat")
                return
            qty = min(qty, reducible)
        elif self.spot and cmd.side is not _BUY:  # a spot account sells only the coins it holds now
            sellable = inst.round_qty(position)  # in whole lots
            if sellable <= 0:
                self._remove(w)
                self._canceled(w, "spot account: no coins left to sell (sold since it was placed)")
                return
            qty = min(qty, sellable)
        market_price = to_decimal(c.open)
        if price_f == c.open:
            price = inst.round_price(market_price)
        else:  # a level (on the tick) or a slipped price: that one is rounded against the taker
            raw = to_decimal(round(price_f, 10))  # 10 places: float noise must not move it a tick
            price = round_to_increment(
                raw, inst.price_increment, rounding=ROUND_CEILING if cmd.side is _BUY else ROUND_FLOOR
            )
        rate = self.model.taker_fee if liquidity is _TAKER else self.model.maker_fee
        if rate is None:
            rate = inst.taker_fee if liquidity is _TAKER else inst.maker_fee
        unaffordable = False
        if self.spot and cmd.side is _BUY and not cmd.reduce_only:
            # checked when placed against the last close; a spot account never pays more than it has
            # (the venue refuses): a buy filled higher (the next open) gets what the cash buys
            affordable = self._affordable(iid, inst, price, rate)
            if affordable < qty:
                qty, unaffordable = affordable, True
                if qty <= 0:
                    self._remove(w)
                    self._canceled(w, self._short_of_cash(cmd, price))
                    return
        if self.model.max_participation is not None:  # of the candle's volume, for all its fills
            cap = inst.round_qty(to_decimal(c.volume * self.model.max_participation)) - self._volume_used
            if cap <= 0:
                return
            if cap < qty:
                qty, unaffordable = cap, False  # the rest goes on, as the next candles' volume allows
            self._volume_used += qty
        w.filled += qty
        signed = qty if cmd.side is _BUY else -qty
        fee_currency = self.quote_currency
        if self._books is not None and signed > 0 and symbol_assets(iid.symbol) is not None:
            fee, fee_currency = qty * rate, inst.base  # Binance and Bybit spot: in the coin bought
            self.positions[iid] = position + qty - fee
            self.cash -= qty * price
        else:
            fee = qty * price * rate
            self.positions[iid] = position + signed
            self.cash -= signed * price + fee
        dust = None
        if self._books is not None:  # what the bot's books hold; dust written off as live
            working = any(
                o is not w and not o.cmd.reduce_only and o.filled for o in self._working.get(iid, ())
            )
            fill = Booking(iid, cmd.side, qty, price, fee, fee_currency)
            dust = self._books.book(fill, lot=inst.qty_increment, entry_working=working)
        done = w.filled == cmd.qty
        clipped = cmd.reduce_only and not done and self._nothing_to_reduce(iid, inst)
        if done or clipped:
            self._remove(w)
        self._trades += 1
        now = self.clock.timestamp_ms()
        self._sink(
            OrderFilled(
                ts_event=self._bar_ts,
                ts_init=now,
                strategy_id=cmd.strategy_id,
                instrument_id=iid,
                client_order_id=cmd.client_order_id,
                venue_order_id=w.venue_order_id,
                trade_id=TradeId(f"sim-t{self._trades}"),
                side=cmd.side,
                qty=qty,
                price=price,
                fee=fee,
                fee_currency=fee_currency,
                liquidity=liquidity,
                market_price=market_price,
                is_last=done,
                written_off=None if dust is None else dust[0],
                written_off_cost=None if dust is None else dust[1],
            )
        )
        if clipped:
            self._canceled(w, "reduce-only: remainder canceled, position flat")
        elif unaffordable and not done:
            self._remove(w)
            self._canceled(w, self._short_of_cash(cmd, price))

    def _affordable(self, iid: InstrumentId, inst: Instrument, price: Decimal, rate: Decimal) -> Decimal:
        """The whole lots the account's cash pays for at ``price`` (with the fee when it is charged in
        the quote currency; a spot buy's fee is in the coin bought)."""
        if self.cash <= 0:
            return ZERO
        fee_in_coin = self._books is not None and symbol_assets(iid.symbol) is not None
        return inst.round_qty(self.cash / (price if fee_in_coin else price * (1 + rate)))

    def _short_of_cash(self, cmd: SubmitOrder, price: Decimal) -> str:
        return (
            f"spot account: insufficient balance: {self.cash:.2f} {self.quote_currency} does not pay for "
            f"the rest of {cmd.qty} at {price}"
        )

    # ------------------------------------------------------------ helpers
    def _validate(self, cmd: SubmitOrder) -> str | None:
        inst = self.instruments.get(cmd.instrument_id)
        if inst is None:
            return f"unknown instrument {cmd.instrument_id}"
        problem = inst.validate_order(cmd.qty, cmd.price)
        if problem is not None:
            return problem
        if cmd.trigger_price is not None and not is_multiple(cmd.trigger_price, inst.price_increment):
            return f"trigger price {cmd.trigger_price} is not a multiple of the tick {inst.price_increment}"
        position = self.positions.get(cmd.instrument_id, ZERO)
        signed = cmd.qty if cmd.side is _BUY else -cmd.qty
        if cmd.reduce_only:
            if position == 0 or (position > 0) == (signed > 0):
                return "reduce-only order would not reduce the position"
            return None
        if self.spot and cmd.side is not _BUY:
            selling = sum(
                (
                    w.cmd.qty - w.filled
                    for w in self._working.get(cmd.instrument_id, ())
                    # a close on its way counts; a position's stop and target hold the coins once,
                    # and are clipped to the position when they fill
                    if w.cmd.side is not _BUY and child_role(w.cmd.client_order_id) is None
                ),
                ZERO,
            )
            if cmd.qty + selling > position:
                return (
                    f"spot account: sells only the coins held ({position}, {selling} already on sale), "
                    f"not {cmd.qty}: short selling needs a margin account"
                )
        px = cmd.price or cmd.trigger_price
        if not px:
            mark = self.last_close.get(cmd.instrument_id)
            px = to_decimal(mark) if mark is not None else None
        if px is None:
            return None
        # exposure and equity (as :meth:`equity` computes it) in one pass over the positions
        exposure = abs(position + signed) * px
        equity = self.cash
        for iid, qty in self.positions.items():
            if qty and iid in self.last_close:
                close = to_decimal(self.last_close[iid])
                equity += qty * close
                if iid != cmd.instrument_id:
                    exposure += abs(qty) * close
        if exposure > equity * self.leverage:
            return (
                f"insufficient margin: exposure {exposure:.2f} would exceed equity {equity:.2f} "
                f"x leverage {self.leverage}"
            )
        return None

    def _retouch(self, instrument_id: InstrumentId) -> None:
        self._touch[instrument_id] = _touch_bounds(self._working.get(instrument_id, []))

    def _nothing_to_reduce(self, iid: InstrumentId, inst: Instrument) -> bool:
        """The position is flat (a spot account's books: less than a lot step is left)."""
        if self._books is None:
            return self.positions[iid] == 0
        return inst.round_qty(abs(self._books.qty(iid))) == 0

    def _remove(self, w: _Working) -> None:
        book = self._working.get(w.cmd.instrument_id)
        if book is not None and w in book:
            book.remove(w)

    def _canceled(self, w: _Working, reason: str) -> None:
        now = self.clock.timestamp_ms()
        self._emit(
            OrderCanceled(
                ts_event=now,
                ts_init=now,
                strategy_id=w.cmd.strategy_id,
                instrument_id=w.cmd.instrument_id,
                client_order_id=w.cmd.client_order_id,
                reason=reason,
            )
        )

    def _emit(self, event: Event) -> None:
        self._sink(event)


def _touch_bounds(book: list[_Working]) -> tuple[bool, float, float]:
    """What a bar must reach for any working order to act on it (most bars reach nothing): a bar acts
    when an order acts on every bar (market, IOC/FOK) or ``high >= up`` or ``low <= down``."""
    up, down = math.inf, -math.inf
    for w in book:
        cmd = w.cmd
        if w.market or cmd.time_in_force is not _GTC:
            return True, up, down
        buy = cmd.side is _BUY
        rises = buy if not w.triggered else not buy  # stops trigger on the way up for buys; limits fill below
        if rises:
            up = min(up, w.level)
        else:
            down = max(down, w.level)
    return False, up, down


def _opened_through(w: _Working, open_: float) -> bool:
    """Whether a resting order's level lies at or beyond the candle's open (a stop triggered, a limit
    marketable at the open)."""
    buy = w.cmd.side is _BUY
    if w.is_stop and not w.triggered:
        return open_ >= w.level if buy else open_ <= w.level
    return open_ <= w.level if buy else open_ >= w.level


def _drop(event: Event) -> None:
    """Default sink until an engine connects."""
