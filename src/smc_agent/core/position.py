"""Net positions per instrument: average price, realised/unrealised PnL and fees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from smc_agent.core.enums import OrderSide
from smc_agent.core.ids import InstrumentId
from smc_agent.core.money import ZERO

_BUY = OrderSide.BUY


class Execution(Protocol):
    """What a position needs from an execution (a :class:`~smc_agent.core.fill.Fill` or an ``OrderFilled``)."""

    @property
    def instrument_id(self) -> InstrumentId: ...
    @property
    def side(self) -> OrderSide: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def fee_currency(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Booking:
    """An execution as the account books it (see :func:`booked`), or one made up to book a position
    (a restart's opening of a stored position)."""

    instrument_id: InstrumentId
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal = ZERO
    fee_currency: str = ""


def symbol_assets(symbol: str) -> tuple[str, str] | None:
    """``(base, quote)`` of a unified symbol (``"BTC/USDT"``, ``"BTC/USDT:USDT"``), else ``None``."""
    base, sep, rest = symbol.partition("/")
    if not sep or not base or not rest:
        return None
    return base, rest.partition(":")[0]


def booked_terms(
    symbol: str,
    side: OrderSide,
    qty: Decimal,
    price: Decimal,
    *,
    fee: Decimal,
    fee_currency: str,
    quote: str,
    position: Decimal,
) -> tuple[Decimal, Decimal] | None:
    """``(quantity, fee in quote)`` of an execution as the account books it, given the signed
    ``position`` before it. A fee in the quote currency (or none) changes nothing. Binance and Bybit
    spot charge a buy's fee in the coin bought: of a long, the position is what the account holds (a
    buy of 0.01 BTC with a 0.00001 BTC fee adds 0.00999 BTC; the exits must not sell more), the fee
    valued at the fill's price (the cash moved, quantity times price plus fee, stays the same). A short
    holds no coins: the buy that covers it closes it whole, its fee counted at its value. ``None`` for a
    fee in a third asset (a fee-discount coin), which the account cannot value."""
    if not fee or not fee_currency or fee_currency == quote:
        return qty, fee
    assets = symbol_assets(symbol)
    if assets is None or fee_currency != assets[0]:
        return None
    held = position + (qty if side is _BUY else -qty)  # long after the fill: the fee comes off it
    cut = min(fee, held) if held > 0 else ZERO
    return (qty - cut if side is _BUY else qty + cut), fee * price


def leaves_dust(old: Decimal, new: Decimal, lot: Decimal) -> bool:
    """A fill that reduced a position from ``old`` to ``new`` (same side, not closed: never a flip)
    left less than a ``lot`` step of it: dust no order can sell (the rest of a fee paid in the coin)."""
    return old != 0 and new != 0 and (new > 0) == (old > 0) and abs(new) < abs(old) and abs(new) < lot


def booked(fill: Execution, quote: str, position: Decimal) -> Execution | None:
    """``fill`` as the account books it in ``quote`` (see :func:`booked_terms`)."""
    terms = booked_terms(
        fill.instrument_id.symbol,
        fill.side,
        fill.qty,
        fill.price,
        fee=fill.fee,
        fee_currency=fill.fee_currency,
        quote=quote,
        position=position,
    )
    if terms is None:
        return None
    if terms == (fill.qty, fill.fee):
        return fill
    return Booking(fill.instrument_id, fill.side, terms[0], fill.price, fee=terms[1], fee_currency=quote)


class Position:
    """Netting position. ``qty`` is signed (long > 0, short < 0).

    ``realized_pnl`` is gross of fees; ``fees`` accumulates every fill's fee (quote currency);
    ``net_realized_pnl`` = ``realized_pnl - fees``. Opening or adding moves the average price;
    reducing realises PnL against it; flipping closes at the fill price and reopens the remainder.
    """

    __slots__ = ("avg_price", "fees", "instrument_id", "qty", "realized_pnl", "trades")

    def __init__(self, instrument_id: InstrumentId) -> None:
        self.instrument_id = instrument_id
        self.qty = ZERO
        self.avg_price = ZERO
        self.realized_pnl = ZERO
        self.fees = ZERO
        self.trades = 0

    def __repr__(self) -> str:
        return (
            f"Position({self.instrument_id} qty={self.qty} avg={self.avg_price} "
            f"realized={self.realized_pnl} fees={self.fees})"
        )

    @property
    def is_flat(self) -> bool:
        return self.qty == 0

    @property
    def is_long(self) -> bool:
        return self.qty > 0

    @property
    def is_short(self) -> bool:
        return self.qty < 0

    @property
    def net_realized_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees

    def unrealized_pnl(self, price: Decimal) -> Decimal:
        return self.qty * (price - self.avg_price)

    def notional(self, price: Decimal) -> Decimal:
        return abs(self.qty) * price

    def write_off(self, qty: Decimal, cost: Decimal) -> None:
        """Take ``qty`` (signed, the position's side) out of the position without a trade, ``cost``
        realised as a loss: dust below the lot step that no order can sell."""
        self.qty -= qty
        self.realized_pnl -= cost
        if self.qty == 0:
            self.avg_price = ZERO

    def apply(self, fill: Execution) -> Decimal:
        """Apply a fill; return the gross PnL it realised (0 when opening/adding)."""
        if fill.instrument_id != self.instrument_id:
            raise ValueError(f"fill for {fill.instrument_id} applied to position {self.instrument_id}")
        self.fees += fill.fee
        self.trades += 1
        signed = fill.qty if fill.side is _BUY else -fill.qty
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            new_qty = self.qty + signed
            self.avg_price = (self.avg_price * abs(self.qty) + fill.price * fill.qty) / abs(new_qty)
            self.qty = new_qty
            return ZERO
        closing = min(abs(signed), abs(self.qty))
        direction = Decimal(1) if self.qty > 0 else Decimal(-1)
        realized = (fill.price - self.avg_price) * closing * direction
        self.realized_pnl += realized
        new_qty = self.qty + signed
        if new_qty == 0:
            self.avg_price = ZERO
        elif (new_qty > 0) != (self.qty > 0):
            self.avg_price = fill.price  # flipped: remainder opens at the fill price
        self.qty = new_qty
        return realized
