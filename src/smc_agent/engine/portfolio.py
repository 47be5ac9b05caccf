"""Cash and positions of one engine's account (single quote currency), with float mirrors for the
per-candle mark-to-market (Decimal stays the accounting truth).

Positions are kept per instrument (the account's: equity, risk limits) and per bot and instrument (what
a strategy sees, sizes its exits on and closes), as the database keeps them: several bots trading one
symbol share the account's coins, and one bot's ``close()`` or stop must not sell another's."""

from __future__ import annotations

from decimal import Decimal

from smc_agent.core.enums import OrderSide
from smc_agent.core.ids import InstrumentId, StrategyId
from smc_agent.core.money import ZERO
from smc_agent.core.position import Booking, Execution, Position, booked
from smc_agent.logs import get_logger

log = get_logger("smc_agent.engine.portfolio")

_BUY = OrderSide.BUY
NO_BOT = StrategyId("")  # positions no bot owns (restored from rows without one)
BotKey = tuple[StrategyId, InstrumentId]


class Portfolio:
    __slots__ = (
        "_open",
        "_unvalued",
        "bot_positions",
        "bot_qty_f",
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
        self.bot_positions: dict[BotKey, Position] = {}
        self.bot_qty_f: dict[BotKey, float] = {}
        self.marks: dict[tuple[str, str], float] = {}  # keyed by InstrumentId or an equal (venue, symbol)
        self._open: list[InstrumentId] = []
        self._unvalued: set[str] = set()  # fee currencies already warned about

    def position(self, instrument_id: InstrumentId) -> Position:
        pos = self.positions.get(instrument_id)
        if pos is None:
            pos = self.positions[instrument_id] = Position(instrument_id)
            self.qty_f[instrument_id] = 0.0
        return pos

    def bot_position(self, bot: StrategyId, instrument_id: InstrumentId) -> Position:
        key = (bot, instrument_id)
        pos = self.bot_positions.get(key)
        if pos is None:
            pos = self.bot_positions[key] = Position(instrument_id)
            self.bot_qty_f[key] = 0.0
            self.position(instrument_id)
        return pos

    def bot_size(self, bot: StrategyId, instrument_id: InstrumentId) -> float:
        """``bot``'s signed quantity of ``instrument_id`` as a float (for decisions, not accounting)."""
        return self.bot_qty_f.get((bot, instrument_id), 0.0)

    def apply_fill(self, fill: Execution, bot: StrategyId = NO_BOT) -> Position:
        """Book one execution of ``bot``; its position after it. A fee in the base coin shrinks what
        the fill added to a long of the bot (see :func:`~smc_agent.core.position.booked`); one in a
        third asset is left out (logged)."""
        mine = self.bot_position(bot, fill.instrument_id)
        if fill.fee_currency != self.quote_currency and fill.fee:
            netted = booked(fill, self.quote_currency, mine.qty)
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
        pos = self.positions[fill.instrument_id]
        pos.apply(fill)
        mine.apply(fill)
        self.bot_qty_f[(bot, fill.instrument_id)] = float(mine.qty)
        signed = fill.qty if fill.side is _BUY else -fill.qty
        self.cash -= signed * fill.price + fill.fee
        self.fees += fill.fee
        self.cash_f = float(self.cash)
        qty_f = self.qty_f
        was_open = qty_f[fill.instrument_id] != 0.0
        now_f = qty_f[fill.instrument_id] = float(pos.qty)
        if (now_f != 0.0) is not was_open:  # only an opening or a closing changes the open list
            self._reopen()
        return mine

    def _reopen(self) -> None:
        self._open = [iid for iid, q in self.qty_f.items() if q != 0.0]

    def write_off(
        self, instrument_id: InstrumentId, qty: Decimal, cost: Decimal, bot: StrategyId = NO_BOT
    ) -> None:
        """Take ``qty`` (signed) out of ``bot``'s position, ``cost`` realised as a loss: dust a
        base-coin fee left below the lot step, which no order can sell (it stays in the account, not in
        the books)."""
        mine = self.bot_position(bot, instrument_id)
        mine.write_off(qty, cost)
        self.bot_qty_f[(bot, instrument_id)] = float(mine.qty)
        pos = self.positions[instrument_id]
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
