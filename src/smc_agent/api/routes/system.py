"""Liveness, readiness, metrics and the system status (anonymous view + private figures)."""

# ruff: noqa: B008  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from smc_agent.api.deps import api_state
from smc_agent.api.guards import ip_limited, optional_principal
from smc_agent.api.principal import Principal
from smc_agent.api.queries import pnl_summary, user_positions
from smc_agent.api.schemas import PositionOut, StatusResponse

router = APIRouter()


@router.get("/health", tags=["system"], summary="Liveness: the process answers.")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    tags=["system"],
    summary="Readiness: database and control store reachable.",
    responses={503: {"description": "A dependency is down."}},
)
def ready(request: Request) -> JSONResponse:
    state = api_state(request)
    problems: dict[str, str] = {}
    try:
        with state.container.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        problems["database"] = exc.__class__.__name__
    try:
        state.container.kv.ping()
    except Exception as exc:
        problems["control_store"] = exc.__class__.__name__
    try:
        state.sessions.ping()
    except Exception as exc:
        problems["session_store"] = exc.__class__.__name__
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    tags=["system"],
    summary="Prometheus metrics (no secrets).",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    return Response(api_state(request).metrics.render(), media_type="text/plain; version=0.0.4")


@router.get(
    "/v1/status",
    tags=["system"],
    response_model=StatusResponse,
    response_model_exclude_none=True,
    summary="System status. Anonymous: overall status, trading state and reason, venue and failover, "
    "dependency health with latency. Authenticated (an API key needs the read scope): also the caller's positions and PnL.",
    dependencies=[Depends(ip_limited)],
)
async def status(
    request: Request, principal: Principal | None = Depends(optional_principal)
) -> dict[str, Any]:
    state = api_state(request)
    data = dict(await state.status.get())  # shared between concurrent callers: copy before adding
    state.metrics.trading_halted.set(1 if data["trading"]["state"] == "halted" else 0)
    if principal is not None and "read" in principal.scopes:  # as /v1/positions: a key needs "read"
        data.update(await run_in_threadpool(_private, state.container.session_factory, principal.user_id))
    return data


def _private(factory: Any, user_id: str) -> dict[str, Any]:
    with factory() as session:
        positions = [PositionOut.model_validate(p) for p in user_positions(session, user_id)]
        return {"positions": positions, "pnl": pnl_summary(session, user_id)}
