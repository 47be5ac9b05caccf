"""Candles with SMC overlays for charts, and the markets that have candles."""

# ruff: noqa: B008, PLR0917  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from smc_agent.api.deps import db_session
from smc_agent.api.guards import reader
from smc_agent.api.overlays import smc_overlays
from smc_agent.api.principal import Principal
from smc_agent.api.queries import ms_to_dt
from smc_agent.api.routes.account import AUTH_ERRORS
from smc_agent.api.schemas import CandleOut, CandlesResponse
from smc_agent.store.models import Candle

router = APIRouter(prefix="/v1", tags=["market data"])


@router.get(
    "/markets",
    response_model=list[dict[str, str]],
    responses=AUTH_ERRORS,
    summary="Exchange, symbol and timeframe of every stored candle series.",
)
def markets(_: Principal = Depends(reader), session: Session = Depends(db_session)) -> list[dict[str, str]]:
    rows = session.execute(
        select(Candle.exchange, Candle.symbol, Candle.timeframe)
        .distinct()
        .order_by(Candle.exchange, Candle.symbol, Candle.timeframe)
    )
    return [{"exchange": e, "symbol": s, "timeframe": t} for e, s, t in rows]


@router.get(
    "/candles",
    response_model=CandlesResponse,
    responses=AUTH_ERRORS,
    summary="Closed candles (oldest first) and the SMC objects known at the last one.",
)
def candles(
    symbol: Annotated[str, Query(pattern=r"^[A-Za-z0-9/:_.-]{1,32}$", examples=["BTC/USDT"])],
    timeframe: Annotated[str, Query(pattern=r"^[1-9][0-9]{0,2}[mhdwM]$", examples=["1h"])],
    exchange: Annotated[str, Query(pattern=r"^[a-z]{1,32}$")] = "binance",
    end_ms: Annotated[
        int | None, Query(ge=0, le=4_102_444_800_000, description="Exclusive end (ms).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    overlays: bool = True,
    _: Principal = Depends(reader),
    session: Session = Depends(db_session),
) -> CandlesResponse:
    query = select(Candle.open_time, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume).where(
        Candle.exchange == exchange, Candle.symbol == symbol, Candle.timeframe == timeframe
    )
    if end_ms is not None:
        query = query.where(Candle.open_time < ms_to_dt(end_ms))
    rows = list(session.execute(query.order_by(Candle.open_time.desc()).limit(limit)))
    rows.reverse()
    series = [
        (int(r[0].timestamp() * 1000), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
        for r in rows
    ]
    return CandlesResponse(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        candles=[
            CandleOut(time=t // 1000, open=o, high=h, low=lo, close=c, volume=v)
            for t, o, h, lo, c, v in series
        ],
        overlays=smc_overlays(series) if overlays else {},
    )
