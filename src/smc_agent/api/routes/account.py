"""Login, logout, the caller's profile, sessions and API keys."""

# ruff: noqa: B008  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from smc_agent.api import keys as key_service
from smc_agent.api.deps import api_state, db_session
from smc_agent.api.errors import ApiError
from smc_agent.api.guards import authenticated, ip_limited, session_user
from smc_agent.api.middleware import client_ip
from smc_agent.api.principal import Principal
from smc_agent.api.queries import page
from smc_agent.api.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyOut,
    LoginRequest,
    LoginResponse,
    Page,
    ResourceId,
    SessionOut,
    UserOut,
)
from smc_agent.store.models import ApiKey, User, UserSession

router = APIRouter(prefix="/v1")
Responses = dict[int | str, dict[str, Any]]
AUTH_ERRORS: Responses = {
    401: {"description": "Not authenticated."},
    403: {"description": "Not allowed."},
    429: {"description": "Rate limited; see Retry-After."},
}
IdPath = Annotated[ResourceId, Path()]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.post(
    "/auth/login",
    tags=["auth"],
    response_model=LoginResponse,
    responses={
        401: {"description": "Wrong username or password."},
        429: {"description": "Too many attempts; see Retry-After."},
    },
    dependencies=[Depends(ip_limited)],
)
async def login(body: LoginRequest, request: Request) -> LoginResponse:
    state = api_state(request)
    ip = client_ip(request.scope)
    wait = await run_in_threadpool(state.login_limiter.hit, "login:" + ip)  # may ask Redis
    if wait:
        request.state.refusal = "login rate limit"
        raise ApiError(429, "too many login attempts from this address", retry_after=wait)
    try:
        result = await run_in_threadpool(
            state.authenticator.login,
            username=body.username,
            password=body.password,
            ip=ip,
            user_agent=(request.headers.get("user-agent") or "")[:1000] or None,
        )
    except ApiError as exc:
        request.state.refusal = exc.detail
        raise
    return LoginResponse(
        token=result.token,
        session_id=result.session_id,
        expires_in=result.expires_in,
        user=UserOut.model_validate(result.user),
    )


@router.post("/auth/logout", tags=["auth"], status_code=204, responses=AUTH_ERRORS)
def logout(
    request: Request, principal: Principal = Depends(session_user), session: Session = Depends(db_session)
) -> None:
    row = session.get(UserSession, principal.session_id)
    if row is not None:
        api_state(request).authenticator.revoke_session(session, row=row)


@router.get("/me", tags=["auth"], response_model=UserOut, responses=AUTH_ERRORS)
def me(principal: Principal = Depends(authenticated), session: Session = Depends(db_session)) -> User:
    user = session.get(User, principal.user_id)
    assert user is not None  # authenticated just read it
    return user


@router.get("/sessions", tags=["auth"], response_model=Page[SessionOut], responses=AUTH_ERRORS)
def list_sessions(
    principal: Principal = Depends(session_user),
    session: Session = Depends(db_session),
    active: bool = Query(True, description="Only sessions not revoked."),
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SessionOut]:
    query = select(UserSession).where(UserSession.user_id == principal.user_id)
    if active:
        query = query.where(UserSession.revoked_at.is_(None))
    result = page(
        session, query.order_by(UserSession.login_time.desc()), out=SessionOut, limit=limit, offset=offset
    )
    for item in result.items:
        item.current = item.id == principal.session_id
    return result


@router.delete(
    "/sessions/{session_id}",
    tags=["auth"],
    status_code=204,
    responses={**AUTH_ERRORS, 404: {"description": "No such session of yours."}},
)
def revoke_session(
    session_id: IdPath,
    request: Request,
    principal: Principal = Depends(session_user),
    session: Session = Depends(db_session),
) -> None:
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != principal.user_id:
        raise ApiError(404, "no such session")
    api_state(request).authenticator.revoke_session(session, row=row)


@router.post(
    "/api-keys", tags=["api keys"], response_model=ApiKeyIssued, status_code=201, responses=AUTH_ERRORS
)
def create_api_key(
    body: ApiKeyCreate, principal: Principal = Depends(session_user), session: Session = Depends(db_session)
) -> ApiKeyIssued:
    if "control" in body.scopes and not principal.has_role("admin"):
        raise ApiError(403, "only admins may create keys with the 'control' scope")
    if "trade" in body.scopes and not principal.has_role("trader"):
        raise ApiError(403, "viewers may only create 'read' keys")
    issued = key_service.create_key(
        session,
        user_id=principal.user_id,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
    )
    return ApiKeyIssued(key=issued.secret, api_key=ApiKeyOut.model_validate(issued.key))


@router.get("/api-keys", tags=["api keys"], response_model=list[ApiKeyOut], responses=AUTH_ERRORS)
def list_api_keys(
    principal: Principal = Depends(session_user),
    session: Session = Depends(db_session),
    include_revoked: bool = False,
) -> list[ApiKeyOut]:
    keys = key_service.list_keys(session, user_id=principal.user_id, include_revoked=include_revoked)
    return [ApiKeyOut.model_validate(k) for k in keys]


def _own_key(session: Session, key_id: str, principal: Principal) -> ApiKey:
    try:
        return key_service.find_key(session, key_id, user_id=principal.user_id)
    except key_service.ApiKeyError:
        raise ApiError(404, "no such API key") from None


@router.delete(
    "/api-keys/{key_id}",
    tags=["api keys"],
    response_model=ApiKeyOut,
    responses={**AUTH_ERRORS, 404: {"description": "No such key of yours."}},
)
def revoke_api_key(
    key_id: IdPath, principal: Principal = Depends(session_user), session: Session = Depends(db_session)
) -> ApiKeyOut:
    key = key_service.revoke_key(session, key=_own_key(session, key_id, principal))
    return ApiKeyOut.model_validate(key)


@router.post(
    "/api-keys/{key_id}/rotate",
    tags=["api keys"],
    response_model=ApiKeyIssued,
    responses={
        **AUTH_ERRORS,
        404: {"description": "No such key of yours."},
        409: {"description": "The key is already revoked."},
    },
)
def rotate_api_key(
    key_id: IdPath, principal: Principal = Depends(session_user), session: Session = Depends(db_session)
) -> ApiKeyIssued:
    key = _own_key(session, key_id, principal)
    try:
        issued = key_service.rotate_key(session, key=key)
    except key_service.ApiKeyError as exc:
        raise ApiError(409, str(exc)) from None
    return ApiKeyIssued(key=issued.secret, api_key=ApiKeyOut.model_validate(issued.key))
