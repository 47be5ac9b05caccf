"""Backtests: submit, list, progress, result, HTML report (the caller's own)."""

# ruff: noqa: B008  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from smc_agent.api.deps import api_state, db_session
from smc_agent.api.errors import ApiError
from smc_agent.api.guards import reader, trader
from smc_agent.api.principal import Principal
from smc_agent.api.queries import ms_to_dt, page
from smc_agent.api.report_links import REPORT_HEADERS, REPORT_LINK_TTL_S, sign_report_token
from smc_agent.api.routes.account import AUTH_ERRORS, Responses
from smc_agent.api.schemas import BacktestCreate, BacktestOut, BacktestResult, Page, ResourceId
from smc_agent.store.models import BacktestRun, Candle

router = APIRouter(prefix="/v1/backtests", tags=["backtests"])
IdPath = Annotated[ResourceId, Path()]
NOT_FOUND: Responses = {**AUTH_ERRORS, 404: {"description": "No such backtest of yours."}}


def _out(row: BacktestRun) -> BacktestOut:
    return BacktestOut.model_validate(row)


def _own(session: Session, backtest_id: str, principal: Principal) -> BacktestRun:
    row = session.get(BacktestRun, backtest_id)
    if row is None or row.user_id != principal.user_id:
        raise ApiError(404, "no such backtest")
    return row


def _stored_candles(session: Session, body: BacktestCreate) -> None:
    """Refuse a backtest of candles that are not stored (it was queued, then failed): say which are."""
    where = [
        Candle.exchange == body.exchange,
        Candle.symbol == body.symbol,
        Candle.timeframe == body.timeframe,
    ]
    if body.start_ms is not None:
        where.append(Candle.open_time >= ms_to_dt(body.start_ms))
    if body.end_ms is not None:
        where.append(Candle.open_time < ms_to_dt(body.end_ms))
    if session.scalar(select(Candle.id).where(*where).limit(1)) is not None:
        return
    markets = session.execute(
        select(Candle.exchange, Candle.symbol, Candle.timeframe).distinct().order_by(Candle.symbol).limit(20)
    ).all()
    stored = ", ".join(f"{e} {s} {t}" for e, s, t in markets) or "none"
    raise ApiError(
        422,
        f"no stored candles for {body.exchange} {body.symbol} {body.timeframe}"
        f"{' in that range' if body.start_ms is not None or body.end_ms is not None else ''}; stored: {stored} "
        "(store more with `smc-agent data download`)",
    )


@router.post(
    "",
    response_model=BacktestOut,
    status_code=202,
    responses={**AUTH_ERRORS, 422: {"description": "Invalid request, or no stored candles for it."}},
    summary="Queue a backtest; poll GET /v1/backtests/{id} for progress.",
)
def submit(
    body: BacktestCreate,
    request: Request,
    principal: Principal = Depends(trader),
    session: Session = Depends(db_session),
) -> BacktestOut:
    _stored_candles(session, body)
    row = BacktestRun(user_id=principal.user_id, status="queued", parameters=body.model_dump(mode="json"))
    session.add(row)
    session.flush()
    session.commit()  # the worker thread must see the row
    api_state(request).backtests.submit(row.id)
    return _out(row)


@router.get("", response_model=Page[BacktestOut], responses=AUTH_ERRORS)
def list_backtests(
    principal: Principal = Depends(reader),
    session: Session = Depends(db_session),
    status: Annotated[str | None, Query(pattern=r"^[a-z]{1,16}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[BacktestOut]:
    query = select(BacktestRun).where(BacktestRun.user_id == principal.user_id)
    if status:
        query = query.where(BacktestRun.status == status)
    result = page(
        session, query.order_by(BacktestRun.created_at.desc()), out=BacktestOut, limit=limit, offset=offset
    )
    return result


@router.get("/{backtest_id}", response_model=BacktestOut, responses=NOT_FOUND)
def get_backtest(
    backtest_id: IdPath, principal: Principal = Depends(reader), session: Session = Depends(db_session)
) -> BacktestOut:
    return _out(_own(session, backtest_id, principal))


@router.get("/{backtest_id}/result", response_model=BacktestResult, responses=NOT_FOUND)
def backtest_result(
    backtest_id: IdPath, principal: Principal = Depends(reader), session: Session = Depends(db_session)
) -> BacktestResult:
    row = _own(session, backtest_id, principal)
    return BacktestResult(id=row.id, status=row.status, result=row.result)


class ReportLink(BaseModel):
    url: str = Field(description="Opens the HTML report without credentials until it expires.")
    expires_in: int


@router.post(
    "/{backtest_id}/report-link",
    response_model=ReportLink,
    responses=NOT_FOUND,
    summary="A short-lived link to the HTML report, for opening it in a browser tab.",
)
def report_link(
    backtest_id: IdPath,
    request: Request,
    principal: Principal = Depends(reader),
    session: Session = Depends(db_session),
) -> ReportLink:
    row = _own(session, backtest_id, principal)
    if not row.report_path:
        raise ApiError(404, f"backtest {row.id} has no report yet (status {row.status})")
    secret = api_state(request).container.settings.secret_key.get_secret_value()
    return ReportLink(url=f"/reports/{sign_report_token(secret, row.id)}", expires_in=REPORT_LINK_TTL_S)


@router.get(
    "/{backtest_id}/report",
    response_class=FileResponse,
    responses={**NOT_FOUND, 200: {"content": {"text/html": {}}, "description": "The HTML report."}},
)
def backtest_report(
    backtest_id: IdPath, principal: Principal = Depends(reader), session: Session = Depends(db_session)
) -> FileResponse:
    row = _own(session, backtest_id, principal)
    if not row.report_path or not FsPath(row.report_path).is_file():
        raise ApiError(404, f"backtest {row.id} has no report yet (status {row.status})")
    return FileResponse(row.report_path, media_type="text/html", headers=REPORT_HEADERS)
