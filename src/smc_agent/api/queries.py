"""Read-side queries over the store tables, always scoped to one user."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from smc_agent.api.schemas import EquityPoint, Page, PnlSummary
from smc_agent.core.enums import OrderSide
from smc_agent.core.ids import InstrumentId
from smc_agent.core.position import Booking, booked_terms, symbol_assets
from smc_agent.core.position import Position as BookPosition
from smc_agent.store.models import Position, Trade
from smc_agent.store.types import money_nonzero

M = TypeVar("M", bound=BaseModel)


def page(session: Session, query: Select[Any], *, out: type[M], limit: int, offset: int) -> Page[M]:
    rows = list(session.scalars(query.limit(limit + 1).offset(offset)))
    more = len(rows) > limit
    page_type = Page[out]  # type: ignore[valid-type]
    return page_type(
        items=[out.model_validate(r) for r in rows[:limit]],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def user_positions(session: Session, user_id: str) -> list[Position]:
    query = select(Position).where(Position.user_id == user_id, money_nonzero(Position.quantity))
    return list(session.scalars(query.order_by(Position.exchange, Position.symbol)))


def pnl_summary(session: Session, user_id: str, *, curve_points: int = 500) -> PnlSummary:
    # summed here in Decimal: SQLite (the default database) stores Money as text and would sum floats
    rows = session.execute(
        select(Position.realized_pnl, Position.fees).where(Position.user_id == user_id)
    ).all()
    realized_d = sum((r.realized_pnl or Decimal(0) for r in rows), Decimal(0))
    fees_d = sum((r.fees or Decimal(0) for r in rows), Decimal(0))
    open_count = session.scalar(
        select(func.count())
        .select_from(Position)
        .where(Position.user_id == user_id, money_nonzero(Position.quantity))
    )
    trades = list(
        session.execute(
            select(
                Trade.timestamp,
                Trade.side,
                Trade.quantity,
                Trade.price,
                Trade.fee,
                Trade.fee_currency,
                Trade.symbol,
                Trade.bot_id,
                Trade.exchange,
            )
            .where(Trade.user_id == user_id)
            .order_by(Trade.timestamp)
        )
    )
    curve = _pnl_curve(trades)
    step = max(1, -(-(len(curve) - 1) // (curve_points - 1)))  # at most curve_points points
    points = curve[::step]
    if points:
        points[-1] = curve[-1]  # thinned, it still ends where the PnL is
    return PnlSummary(
        realized_pnl=realized_d,
        fees=fees_d,
        net_pnl=realized_d - fees_d,
        open_positions=int(open_count or 0),
        trades=len(trades),
        equity_curve=[EquityPoint(time_ms=t, value=v) for t, v in points],
    )


def _pnl_curve(trades: list[Any]) -> list[tuple[int, Decimal]]:
    """Cumulative realised PnL net of fees after each trade, booked as the positions are (per bot,
    venue and symbol; a fee in the coin bought off a long's quantity, else valued at the fill's price;
    one in a third asset left out): what a position costs is not a loss, nor its sale a gain. It ends at
    ``net_pnl`` (write-offs of dust aside, which no trade records)."""
    total = Decimal(0)
    books: dict[tuple[str | None, str, str], BookPosition] = {}
    curve: list[tuple[int, Decimal]] = []
    for ts, side, raw_qty, raw_price, raw_fee, fee_currency, symbol, bot_id, exchange in trades:
        qty, price, fee = Decimal(raw_qty), Decimal(raw_price), Decimal(raw_fee or 0)
        order_side = OrderSide.BUY if str(side).lower() == "buy" else OrderSide.SELL
        key = (bot_id, exchange, symbol)
        position = books.get(key)
        if position is None:
            position = books[key] = BookPosition(InstrumentId(exchange, symbol))
        quote = (symbol_assets(symbol) or ("", ""))[1]
        terms = booked_terms(
            symbol,
            order_side,
            qty,
            price,
            fee=fee,
            fee_currency=fee_currency or "",
            quote=quote,
            position=position.qty,
        )
        booked_qty, booked_fee = terms or (qty, Decimal(0))
        before = position.net_realized_pnl
        position.apply(Booking(position.instrument_id, order_side, booked_qty, price, fee=booked_fee))
        total += position.net_realized_pnl - before
        curve.append((int(ts.timestamp() * 1000), total))
    return curve
