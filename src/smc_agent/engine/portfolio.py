"""Cash and positions of one engine's account (single quote currency), with float mirrors for the
per-candle mark-to-market (Decimal stays the accounting truth)."""

from __future__ import annotations

from decimal import Decimal

from smc_agent.core.enums import OrderSide
from smc_agent.core.ids import InstrumentId
from smc_agent.core.money import ZERO
from smc_agent.core.position import Booking, Execution, Position, booked
from smc_agent.logs import get_logger

log = get_logger("smc_agent.engine.portfolio")

_BUY = OrderSide.BUY


class Portfolio:
    __slots__ = (
        "_open",
        "_unvalued",
        "cash",
        "cash_f",
        "fees",
        "marks",
        "positions",
        "qty_f",
        "quote_currency",
    )

    def __init__(self, starting_cash: Decimal, quote_currency: str) -> None:
        self.cash = starting_cash
        self.cash_f = float(starting_cash)
        self.fees = ZERO
        self.quote_currency = quote_currency
        self.positions: dict[InstrumentId, Position] = {}
        self.qty_f: dict[InstrumentId, float] = {}
        self.marks: dict[tuple[str, str], float] = {}  # keyed by InstrumentId or an equal (venue, symbol)
        self._open: list[InstrumentId] = []
        self._unvalued: set[str] = set()  # fee currencies already warned about

    def position(self, instrument_id: InstrumentId) -> Position:
        pos = self.positions.get(instrument_id)
        if pos is None:
            pos = self.positions[instrument_id] = Position(instrument_id)
            self.qty_f[instrument_id] = 0.0
        return pos

    def apply_fill(self, fill: Execution) -> Position:
        """Book one execution. A fee in the base coin shrinks what the fill added (see
        :func:`~smc_agent.core.position.booked`); one in a third asset is left out (logged)."""
        if fill.fee_currency != self.quote_currency and fill.fee:
            held = self.positions.get(fill.instrument_id)
            netted = booked(fill, self.quote_currency, ZERO if held is None else held.qty)
            if netted is None:
                if fill.fee_currency not in self._unvalued:
                    self._unvalued.add(fill.fee_currency)
                    log.warning(
                        "fees paid in a third asset are left out of equity and PnL",
                        currency=fill.fee_currency,
                        instrument=str(fill.instrument_id),
                    )
                netted = Booking(fill.instrument_id, fill.side, fill.qty, fill.price)
            fill = netted
        pos = self.position(fill.instrument_id)
        pos.apply(fill)
        signed = fill.qty if fill.side is _BUY else -fill.qty
        self.cash -= signed * fill.price + fill.fee
        self.fees += fill.fee
        self.cash_f = float(self.cash)
        qty_f = self.qty_f
        was_open = qty_f[fill.instrument_id] != 0.0
        now_f = qty_f[fill.instrument_id] = float(pos.qty)
        if (now_f != 0.0) is not was_open:  # only an opening or a closing changes the open list
            self._reopen()
        return pos

    def _reopen(self) -> None:
        self._open = [iid for iid, q in self.qty_f.items() if q != 0.0]

    def write_off(self, instrument_id: InstrumentId, qty: Decimal, cost: Decimal) -> None:
        """Take ``qty`` (signed) out of the position, ``cost`` realised as a loss: dust a base-coin fee
        left below the lot step, which no order can sell (it stays in the account, not in the books)."""
        pos = self.position(instrument_id)
        pos.write_off(qty, cost)
        self.qty_f[instrument_id] = float(pos.qty)
        self._reopen()

    @property
    def has_exposure(self) -> bool:
        return bool(self._open)

    def equity_f(self) -> float:
        """Cash plus open positions at their marks (a position restored before any price: at cost)."""
        eq = self.cash_f
        marks = self.marks
        for iid in self._open:
            mark = marks.get(iid)
            eq += self.qty_f[iid] * (mark if mark is not None else float(self.positions[iid].avg_price))
        return eq

    def equity(self) -> Decimal:
        eq = self.cash
        for iid in self._open:
            mark = self.marks.get(iid)
            pos = self.positions[iid]
            eq += pos.qty * (Decimal(repr(mark)) if mark is not None else pos.avg_price)
        return eq
