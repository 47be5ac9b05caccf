"""FastAPI dependencies: who is calling (401), may they (403), not too often (429)."""

# ruff: noqa: B008  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from smc_agent.api.deps import api_state
from smc_agent.api.errors import ApiError
from smc_agent.api.middleware import client_ip
from smc_agent.api.principal import Principal

bearer = HTTPBearer(auto_error=False, description="Session token from POST /v1/auth/login, or an API key.")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key smc_xxxxxx_...")


async def ip_limited(request: Request) -> None:
    """Per client IP, for every /v1 route (anonymous ones included). Async: no thread hop, no I/O."""
    wait = api_state(request).ip_limiter.hit(client_ip(request.scope))
    if wait:
        request.state.refusal = "rate limit per IP"
        raise ApiError(429, "rate limit exceeded for this address", retry_after=wait)


async def optional_principal(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
    api_key: str | None = Depends(api_key_header),
) -> Principal | None:
    credential = api_key or (creds.credentials if creds else None)
    if not credential:
        return None  # anonymous: no database round trip, no thread hop
    return await run_in_threadpool(_authenticate, request, credential)


def authenticated(
    request: Request,
    _ip: None = Depends(ip_limited),
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
    api_key: str | None = Depends(api_key_header),
) -> Principal:
    credential = api_key or (creds.credentials if creds else None)
    if not credential:
        request.state.refusal = "no credentials"
    return _authenticate(request, credential)


def _authenticate(request: Request, credential: str | None) -> Principal:
    state = api_state(request)
    try:
        principal = state.authenticator.authenticate(credential)
    except ApiError as exc:
        request.state.refusal = exc.detail
        raise
    request.state.principal = principal
    wait = state.limiter.hit("sub:" + principal.subject)
    if wait:
        request.state.refusal = "rate limit per key/user"
        raise ApiError(429, "rate limit exceeded for this key or user", retry_after=wait)
    return principal


def reader(principal: Principal = Depends(authenticated)) -> Principal:
    if "read" not in principal.scopes:
        raise ApiError(403, "this API key lacks the 'read' scope")
    return principal


def trader(principal: Principal = Depends(authenticated)) -> Principal:
    if not principal.has_role("trader"):
        raise ApiError(403, f"role {principal.role!r} may not change anything: trader or admin required")
    if "trade" not in principal.scopes:
        raise ApiError(403, "this API key lacks the 'trade' scope")
    return principal


def admin(principal: Principal = Depends(authenticated)) -> Principal:
    if not principal.has_role("admin"):
        raise ApiError(403, "admin role required")
    if "control" not in principal.scopes:
        raise ApiError(403, "this API key lacks the 'control' scope")
    return principal


def session_user(principal: Principal = Depends(authenticated)) -> Principal:
    """Account management (sessions, keys) needs a login session: an API key cannot mint keys."""
    if principal.key_id is not None:
        raise ApiError(403, "API keys cannot manage sessions or keys: log in with a password")
    return principal
