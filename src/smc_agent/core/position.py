"""Net positions per instrument: average price, realised/unrealised PnL and fees."""

from __future__ import annotations

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
