"""One exception for refusals, turned into a JSON answer with the right status and headers."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
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


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 answer, with the non-finite numbers of the echoed input as strings: a body of
    ``{"qty": NaN}`` (Python's json reads it) was refused, and then answering failed with a 500, since
    NaN and Infinity are not JSON."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by its name (``"NaN"``, ``"Infinity"``,
    ``"-Infinity"``) and every lone surrogate by its escape, so that it serialises as strict UTF-8 JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):  # a lone surrogate ("\ud800" in the JSON) cannot be encoded: its escape
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value
