"""Round-trip trades built from fills: a trade runs from flat to flat (a flip closes one trade and
opens the next at the same fill). A position still open after the last fill is no trade; it is
reported apart (:func:`open_position`), marked to a price."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from smc_agent.core.enums import OrderSide
from smc_agent.core.events import OrderFilled
from smc_agent.core.ids import InstrumentId
from smc_agent.core.money import ZERO
from smc_agent.core.position import booked, symbol_assets


@dataclass(frozen=True, slots=True)
class Trade:
    instrument_id: InstrumentId
    side: OrderSide  # BUY = long trade
    qty: Decimal  # largest absolute size held
    entry_time: int
    entry_price: Decimal  # quantity-weighted average of the entries
    exit_time: int
    exit_price: Decimal  # quantity-weighted average of the exits
    gross_pnl: Decimal
    fees: Decimal
    entry_tag: str
    exit_tag: str
    # quantity the trade held over its life (bought, less fees paid in the coin): its exits sold it all
    # and ``(exit_price - entry_price) * traded_qty`` is its gross PnL (a long; the reverse for a
    # short), except for a spot trade that ended with dust written off, never sold: then its gross PnL
    # is ``exit_price * (traded_qty - dust) - entry_price * traded_qty``; ``qty`` is less when it
    # scaled in and out
    traded_qty: Decimal

    @property
    def pnl(self) -> Decimal:
        return self.gross_pnl - self.fees

    @property
    def return_pct(self) -> float:
        cost = self.entry_price * self.qty
        return float(self.pnl / cost) if cost else 0.0


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """The position held after the last fill, marked to ``mark_price`` (e.g. the last close).

    ``avg_price`` is the average cost of the quantity held (adds move it, partial exits do not), as the
    engine's :class:`~smc_agent.core.position.Position` keeps it; ``realized_pnl`` is what partial exits
    of this position realised against it (gross); ``fees`` were paid on this position so far (entries
    and partial exits; a flip's fee split by quantity as for trades)."""

    instrument_id: InstrumentId
    side: OrderSide  # BUY = long
    qty: Decimal  # held, positive
    entry_time: int
    avg_price: Decimal
    mark_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    entry_tag: str

    @property
    def unrealized_pnl(self) -> Decimal:
        sign = 1 if self.side is OrderSide.BUY else -1
        return (self.mark_price - self.avg_price) * self.qty * sign

    @property
    def pnl(self) -> Decimal:
        """Realised plus unrealised, net of this position's fees."""
        return self.realized_pnl + self.unrealized_pnl - self.fees


class _Open:
    __slots__ = (
        "cost",
        "entry_notional",
        "entry_qty",
        "entry_tag",
        "entry_time",
        "exit_notional",
        "exit_qty",
        "fees",
        "max_qty",
        "qty",
        "realized",
        "side",
        "written_off",
    )

    def __init__(self, side: OrderSide, ts: int, tag: str) -> None:
        self.side = side
        self.entry_time = ts
        self.entry_tag = tag
        self.qty = ZERO
        self.max_qty = ZERO
        self.entry_qty = ZERO
        self.entry_notional = ZERO
        self.exit_qty = ZERO
        self.exit_notional = ZERO
        self.fees = ZERO
        self.cost = ZERO  # average cost of the quantity held, times that quantity
        self.realized = ZERO  # gross PnL of the exits so far against the average cost
        self.written_off = False  # dust left the position at its cost, with no trade


def build_trades(fills: Iterable[OrderFilled], tags: dict[str, str] | None = None) -> list[Trade]:
    """``tags`` maps client order ids to order tags (for entry/exit reasons)."""
    return _replay(fills, tags)[0]


def open_position(
    fills: Iterable[OrderFilled],
    instrument_id: InstrumentId,
    mark_price: Decimal,
    tags: dict[str, str] | None = None,
) -> OpenPosition | None:
    """The position in ``instrument_id`` left open after ``fills``, marked to ``mark_price``; None when flat."""
    return trades_and_open_position(fills, instrument_id, mark_price, tags)[1]


def trades_and_open_position(
    fills: Iterable[OrderFilled],
    instrument_id: InstrumentId,
    mark_price: Decimal,
    tags: dict[str, str] | None = None,
) -> tuple[list[Trade], OpenPosition | None]:
    """:func:`build_trades` and :func:`open_position` from one pass over the fills."""
    trades, still_open = _replay(fills, tags)
    cur = still_open.get(instrument_id)
    if cur is None:
        return trades, None
    return trades, OpenPosition(
        instrument_id,
        cur.side,
        cur.qty,
        cur.entry_time,
        cur.cost / cur.qty,
        mark_price,
        cur.realized,
        cur.fees,
        cur.entry_tag,
    )


def _replay(
    fills: Iterable[OrderFilled], tags: dict[str, str] | None
) -> tuple[list[Trade], dict[InstrumentId, _Open]]:
    """The closed trades, and what is still open per instrument. A fill is booked as the account books
    it (a spot buy's fee in the coin bought: the quantity held is less by it, the fee valued at the
    fill's price, see :func:`~smc_agent.core.position.booked_terms`); dust a fill wrote off leaves the
    trade at no price (its cost a loss), and ends it when nothing else is left."""
    tags = tags or {}
    open_: dict[InstrumentId, _Open] = {}
    out: list[Trade] = []
    for f in fills:
        tag = tags.get(f.client_order_id, "")
        remaining, fee = f.qty, f.fee
        if fee and f.fee_currency:
            cur = open_.get(f.instrument_id)
            held = ZERO if cur is None else (cur.qty if cur.side is OrderSide.BUY else -cur.qty)
            quote = (symbol_assets(f.instrument_id.symbol) or ("", f.fee_currency))[1]
            as_booked = booked(f, quote, held)  # None: a fee in a third asset, not valued (as the engine)
            remaining, fee = (f.qty, ZERO) if as_booked is None else (as_booked.qty, as_booked.fee)
        fee_per_unit = fee / remaining
        while remaining > 0:
            cur = open_.get(f.instrument_id)
            if cur is None:
                cur = open_[f.instrument_id] = _Open(f.side, f.ts_event, tag)
            if f.side is cur.side:
                cur.qty += remaining
                cur.max_qty = max(cur.max_qty, cur.qty)
                cur.entry_qty += remaining
                cur.entry_notional += remaining * f.price
                cur.cost += remaining * f.price
                cur.fees += remaining * fee_per_unit
                remaining = ZERO
                continue
            closing = min(remaining, cur.qty)
            avg = cur.cost / cur.qty
            cur.realized += (f.price - avg) * closing * (1 if cur.side is OrderSide.BUY else -1)
            cur.cost -= avg * closing
            cur.qty -= closing
            cur.exit_qty += closing
            cur.exit_notional += closing * f.price
            cur.fees += closing * fee_per_unit
            remaining -= closing
            if cur.qty == 0:
                out.append(_closed(cur, f, tag))
                del open_[f.instrument_id]
        cur = open_.get(f.instrument_id)
        if f.written_off and cur is not None:  # dust below the lot step, out of the books
            dust = abs(f.written_off)
            cur.cost -= cur.cost / cur.qty * dust
            cur.realized -= f.written_off_cost or ZERO
            cur.qty -= dust
            cur.written_off = True
            if cur.qty == 0:
                out.append(_closed(cur, f, tag))
                del open_[f.instrument_id]
    return out, open_


def _closed(cur: _Open, f: OrderFilled, tag: str) -> Trade:
    """The trade ``cur`` ended by ``f``. Its gross PnL is what its exits brought in less what its
    entries cost (exact), or after a write-off the books' realised PnL (the dust's cost a loss)."""
    sign = 1 if cur.side is OrderSide.BUY else -1
    gross = cur.realized if cur.written_off else (cur.exit_notional - cur.entry_notional) * sign
    exit_price = cur.exit_notional / cur.exit_qty if cur.exit_qty else ZERO
    return Trade(
        f.instrument_id,
        cur.side,
        cur.max_qty,
        cur.entry_time,
        cur.entry_notional / cur.entry_qty,
        f.ts_event,
        exit_price,
        gross,
        cur.fees,
        cur.entry_tag,
        tag,
        cur.entry_qty,
    )
