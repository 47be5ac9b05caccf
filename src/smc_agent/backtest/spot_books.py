"""The bot's books of a simulated spot account, kept as the live database keeps them.

Binance and Bybit spot charge a buy's fee in the coin bought: the account holds the quantity bought
less the fee, and after the exits sell what they can (whole lot steps), the rest is dust no order can
sell. Live, the database writes that dust off the bot's books in the fill's transaction and the fill's
event carries the write-off to the trading engine (``OrderFilled.written_off``); in a backtest the
simulated venue does it with these books, so a spot backtest books fees and dust as live trading does.
"""

from __future__ import annotations

from decimal import Decimal

from smc_agent.core.ids import InstrumentId
from smc_agent.core.money import ZERO
from smc_agent.core.position import Booking, Position, booked, leaves_dust


class SpotBooks:
    def __init__(self, quote_currency: str) -> None:
        self.quote_currency = quote_currency
        self.positions: dict[InstrumentId, Position] = {}

    def book(
        self,
        fill: Booking,
        *,
        lot: Decimal,
        entry_working: bool,
    ) -> tuple[Decimal, Decimal] | None:
        """Book ``fill`` (its fee in the coin bought or in the quote currency). A fill that reduced the
        position and left less than ``lot`` of it writes that dust off, its cost (at the average price)
        a realised loss, unless an entry with a part filled works (that part is the entry's). Returns
        the dust (signed) and its cost, or None."""
        pos = self.positions.get(fill.instrument_id)
        if pos is None:
            pos = self.positions[fill.instrument_id] = Position(fill.instrument_id)
        old = pos.qty
        pos.apply(booked(fill, self.quote_currency, old) or fill)
        new = pos.qty
        if entry_working or not leaves_dust(old, new, lot):
            return None
        cost = abs(new) * pos.avg_price
        pos.write_off(new, cost)
        return new, cost

    def qty(self, instrument_id: InstrumentId) -> Decimal:
        """The bot's signed position (the account's coins less the dust written off)."""
        pos = self.positions.get(instrument_id)
        return ZERO if pos is None else pos.qty
