"""One exception for refusals, turned into a JSON answer with the right status and headers."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class ApiError(Exception):
    """``status`` 401 (who are you?), 403 (not allowed), 404, 409, 429 (``retry_after`` seconds)."""

    def __init__(self, status: int, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status in (401, 403, 429) and not getattr(request.state, "refusal", None):
        request.state.refusal = exc.detail
    return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)
