"""Short-lived, signed links to backtest reports.

A browser tab cannot send the bearer token, and a report opened from a blob would inherit the
dashboard's strict CSP (which blocks the report's inline plotly script). So the dashboard asks
``POST /v1/backtests/{id}/report-link`` and opens ``/reports/<token>``: the token names the backtest
and an expiry, signed with HMAC-SHA256 under ``SMC_SECRET_KEY`` (no server-side state, works
across replicas). Query strings are never logged, and the token lives in the path only briefly.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from smc_agent.api.deps import api_state
from smc_agent.api.errors import ApiError
from smc_agent.store.models import BacktestRun

REPORT_LINK_TTL_S = 120
# The report is a self-contained plotly page: inline script and styles, nothing from the network.
REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; frame-ancestors 'none'",
}

router = APIRouter()


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


def sign_report_token(secret: str, backtest_id: str, *, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + REPORT_LINK_TTL_S)
    payload = f"{backtest_id}.{expires}"
    return f"{payload}.{_signature(secret, payload)}"


def verify_report_token(secret: str, token: str, *, now: float | None = None) -> str:
    """Return the backtest id, or raise 404 (never say whether the signature or the expiry failed)."""
    parts = token.split(".")
    if len(parts) == 3 and parts[1].isdigit():
        payload = f"{parts[0]}.{parts[1]}"
        fresh = int(parts[1]) >= (now if now is not None else time.time())
        if fresh and hmac.compare_digest(parts[2], _signature(secret, payload)):
            return parts[0]
    raise ApiError(404, "no such report link (expired or invalid)")


@router.get("/reports/{token}", include_in_schema=False)
def open_report(token: str, request: Request) -> FileResponse:
    state = api_state(request)
    backtest_id = verify_report_token(state.container.settings.secret_key.get_secret_value(), token[:200])
    with state.container.session_factory() as session:
        row = session.get(BacktestRun, backtest_id)
        path = row.report_path if row is not None else None
    if not path:
        raise ApiError(404, "no such report")
    return FileResponse(path, media_type="text/html", headers=REPORT_HEADERS)
