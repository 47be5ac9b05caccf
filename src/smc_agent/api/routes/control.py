"""Halt, resume and failover: admin only, each with a reason (the same facade as CLI and playbook)."""

# ruff: noqa: B008  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from smc_agent.api.deps import ApiContainer, api_state
from smc_agent.api.errors import ApiError
from smc_agent.api.guards import admin, reader
from smc_agent.api.principal import Principal
from smc_agent.api.routes.account import AUTH_ERRORS, Responses
from smc_agent.api.schemas import FailoverRequest, ReasonRequest, TradingStateOut
from smc_agent.control.trading import HEARTBEAT_KEY, ControlSnapshot
from smc_agent.core.control import ControlStoreUnavailable

router = APIRouter(prefix="/v1/control", tags=["control"])
ERRORS: Responses = {**AUTH_ERRORS, 503: {"description": "Control store unreachable."}}


def _state(snap: ControlSnapshot) -> TradingStateOut:
    return TradingStateOut(
        state=snap.state.value,
        reason=snap.reason,
        halt_key_present=snap.halt_key_present,
        latch=None if snap.latch is None else snap.latch.status,
    )


@router.get("/trading", response_model=TradingStateOut, responses=AUTH_ERRORS)
async def trading_state(request: Request, _: Principal = Depends(reader)) -> TradingStateOut:
    snap = await run_in_threadpool(api_state(request).container.trading_control.observe)
    return _state(snap)


@router.post(
    "/halt",
    response_model=TradingStateOut,
    responses=ERRORS,
    summary="Halt all trading now (latched until an explicit resume).",
)
async def halt(
    body: ReasonRequest, request: Request, principal: Principal = Depends(admin)
) -> TradingStateOut:
    control = api_state(request).container.trading_control
    snap = await run_in_threadpool(
        lambda: control.halt(reason=body.reason, actor=f"{principal.username}@api", source="api")
    )
    return _state(snap)


@router.post(
    "/resume",
    response_model=TradingStateOut,
    responses=ERRORS,
    summary="Release the halt; the engine verifies (database, Redis, venue, reconciliation) before resuming.",
)
async def resume(
    body: ReasonRequest, request: Request, principal: Principal = Depends(admin)
) -> TradingStateOut:
    container = api_state(request).container
    try:
        snap = await run_in_threadpool(_release, container, body.reason, f"{principal.username}@api")
    except ControlStoreUnavailable as exc:
        raise ApiError(503, f"cannot release: {exc}") from None
    return _state(snap)


def _release(c: ApiContainer, reason: str, actor: str) -> ControlSnapshot:
    control = c.trading_control
    control.request_release(reason=reason, actor=actor, source="api")
    if c.kv.get(HEARTBEAT_KEY) is not None:
        return control.observe()  # a running engine runs its resume verification and logs the outcome
    checks: list[tuple[str, Any]] = [
        ("database", lambda: _db_check(c)),
        ("control store", lambda: None if c.kv.ping() >= 0 else "no answer"),
    ]
    return control.complete_release(checks, actor=actor)


def _db_check(c: ApiContainer) -> str | None:
    with c.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return None


@router.post(
    "/failover",
    response_model=dict[str, Any],
    responses=ERRORS,
    summary="Route market data and new orders from one venue to the other.",
)
async def failover(
    body: FailoverRequest, request: Request, principal: Principal = Depends(admin)
) -> dict[str, Any]:
    manager = api_state(request).container.failover
    return await run_in_threadpool(
        lambda: manager.activate_failover(
            body.from_venue,
            body.to_venue,
            reason=body.reason,
            actor=f"{principal.username}@api",
            source="api",
        )
    )


@router.post(
    "/failover/deactivate",
    response_model=dict[str, Any],
    responses=ERRORS,
    summary="Return to the primary venue.",
)
async def failover_deactivate(
    body: ReasonRequest, request: Request, principal: Principal = Depends(admin)
) -> dict[str, Any]:
    manager = api_state(request).container.failover
    return await run_in_threadpool(
        lambda: manager.deactivate_failover(
            reason=body.reason, actor=f"{principal.username}@api", source="api"
        )
    )


@router.get("/failover", response_model=dict[str, Any], responses=AUTH_ERRORS)
async def failover_status(request: Request, _: Principal = Depends(reader)) -> dict[str, Any]:
    return await run_in_threadpool(api_state(request).container.failover.status)
