"""The caller's orders, trades, positions, signals and PnL (written by the trading runtime)."""

# ruff: noqa: B008, PLR0917  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from smc_agent.api.deps import db_session
from smc_agent.api.guards import reader
from smc_agent.api.principal import Principal
from smc_agent.api.queries import ms_to_dt, page, pnl_summary
from smc_agent.api.routes.account import AUTH_ERRORS
from smc_agent.api.schemas import BotVenue, OrderOut, Page, PnlSummary, PositionOut, SignalOut, TradeOut
from smc_agent.core.enums import OrderStatus
from smc_agent.store.models import Order, Position, Signal, Trade
from smc_agent.store.types import money_nonzero

router = APIRouter(prefix="/v1", tags=["trading records"])

SymbolQ = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9/:_.-]{1,32}$", description="e.g. BTC/USDT")]
ExchangeQ = Annotated[BotVenue | None, Query(description="a venue the system trades on")]
BotQ = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{1,40}$")]
MsQ = Annotated[int | None, Query(ge=0, le=4_102_444_800_000, description="Milliseconds since epoch (UTC).")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


_TERMINAL_STATUSES = tuple(s.value for s in OrderStatus if s.is_terminal)


class OrderRecordOut(OrderOut):
    """An order; one the risk gate denied (``status`` ``denied``) names the check that refused it and
    the figures compared (``reason`` says why in words)."""

    risk_check: str | None = Field(None, description="The risk check that denied the order.")
    risk_figures: dict[str, str] | None = Field(
        None, description='The figures the check compared, e.g. {"qty": "12000", "limit": "10000"}.'
    )


def _filters(
    query: Select[Any],
    model: Any,
    *,
    symbol: str | None,
    exchange: str | None,
    bot_id: str | None,
    time_column: Any = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> Select[Any]:
    if symbol:
        query = query.where(model.symbol == symbol)
    if exchange:
        query = query.where(model.exchange == exchange)
    if bot_id:
        query = query.where(model.bot_id == bot_id)
    if since_ms is not None:
        query = query.where(time_column >= ms_to_dt(since_ms))
    if until_ms is not None:
        query = query.where(time_column < ms_to_dt(until_ms))
    return query


@router.get("/orders", response_model=Page[OrderRecordOut], responses=AUTH_ERRORS)
def list_orders(
    principal: Principal = Depends(reader),
    session: Session = Depends(db_session),
    symbol: SymbolQ = None,
    exchange: ExchangeQ = None,
    bot_id: BotQ = None,
    status: Annotated[
        OrderStatus | None, Query(description="e.g. filled, canceled, denied (one of the order states)")
    ] = None,
    open_only: bool = Query(False, description="Only orders still working at the venue."),
    since_ms: MsQ = None,
    until_ms: MsQ = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[OrderRecordOut]:
    query = _filters(
        select(Order).where(Order.user_id == principal.user_id),
        Order,
        symbol=symbol,
        exchange=exchange,
        bot_id=bot_id,
        time_column=Order.created_at,
        since_ms=since_ms,
        until_ms=until_ms,
    )
    if status is not None:
        query = query.where(Order.status == status.value)
    if open_only:
        query = query.where(Order.closed_at.is_(None), Order.status.not_in(_TERMINAL_STATUSES))
    return page(
        session, query.order_by(Order.created_at.desc()), out=OrderRecordOut, limit=limit, offset=offset
    )


@router.get("/trades", response_model=Page[TradeOut], responses=AUTH_ERRORS)
def list_trades(
    principal: Principal = Depends(reader),
    session: Session = Depends(db_session),
    symbol: SymbolQ = None,
    exchange: ExchangeQ = None,
    bot_id: BotQ = None,
    since_ms: MsQ = None,
    until_ms: MsQ = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[TradeOut]:
    query = _filters(
        select(Trade).where(Trade.user_id == principal.user_id),
        Trade,
        symbol=symbol,
        exchange=exchange,
        bot_id=bot_id,
        time_column=Trade.timestamp,
        since_ms=since_ms,
        until_ms=until_ms,
    )
    return page(session, query.order_by(Trade.timestamp.desc()), out=TradeOut, limit=limit, offset=offset)


@router.get("/positions", response_model=Page[PositionOut], responses=AUTH_ERRORS)
def list_positions(
    principal: Principal = Depends(reader),
    session: Session = Depends(db_session),
    symbol: SymbolQ = None,
    exchange: ExchangeQ = None,
    bot_id: BotQ = None,
    include_flat: bool = Query(False, description="Also positions with zero quantity."),
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[PositionOut]:
    query = _filters(
        select(Position).where(Position.user_id == principal.user_id),
        Position,
        symbol=symbol,
        exchange=exchange,
        bot_id=bot_id,
    )
    if not include_flat:
        query = query.where(money_nonzero(Position.quantity))
    query = query.order_by(Position.exchange, Position.symbol, Position.id)
    return page(session, query, out=PositionOut, limit=limit, offset=offset)


@router.get("/signals", response_model=Page[SignalOut], responses=AUTH_ERRORS)
def list_signals(
    principal: Principal = Depends(reader),
    session: Session = Depends(db_session),
    symbol: SymbolQ = None,
    exchange: ExchangeQ = None,
    bot_id: BotQ = None,
    kind: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{1,32}$")] = None,
    since_ms: MsQ = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[SignalOut]:
    query = _filters(
        select(Signal).where(Signal.user_id == principal.user_id),
        Signal,
        symbol=symbol,
        exchange=exchange,
        bot_id=bot_id,
        time_column=Signal.created_at,
        since_ms=since_ms,
    )
    if kind:
        query = query.where(Signal.kind == kind)
    return page(session, query.order_by(Signal.created_at.desc()), out=SignalOut, limit=limit, offset=offset)


@router.get("/pnl", response_model=PnlSummary, responses=AUTH_ERRORS)
def pnl(principal: Principal = Depends(reader), session: Session = Depends(db_session)) -> PnlSummary:
    return pnl_summary(session, principal.user_id)
