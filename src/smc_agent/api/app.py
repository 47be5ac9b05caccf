"""The app factory: ``create_app(container, bus=...)`` builds the API, WebSocket and dashboard roles.

``roles`` picks what one process serves: ``api`` (api-gateway), ``ws`` (websocket-service), ``web``
(web-app); the all-in-one runtime serves all three. ``/health``, ``/ready`` and ``/metrics`` are
always there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from smc_agent.api import report_links
from smc_agent.api.auth import Authenticator
from smc_agent.api.backtest_runner import store_backtest_runner
from smc_agent.api.backtests import BacktestLauncher, BacktestRunner
from smc_agent.api.body_limit import BodyLimitMiddleware
from smc_agent.api.bus import JsonBus, LocalBus, RedisBus
from smc_agent.api.coalesce import Coalescer
from smc_agent.api.deps import ApiContainer, ApiState
from smc_agent.api.errors import ApiError, api_error_handler, validation_error_handler
from smc_agent.api.metrics import ApiMetrics
from smc_agent.api.middleware import AccessLogMiddleware
from smc_agent.api.ratelimit import Limit, Limiter, RateLimiter, RateLimits, SharedRateLimiter
from smc_agent.api.relay import StreamRelay
from smc_agent.api.routes import account, backtests, control, incidents, market, records, resources, system
from smc_agent.api.sessions import DbSessionStore, RedisSessionStore, SessionStore
from smc_agent.api.static import mount_dashboard
from smc_agent.api.watcher import ControlWatcher
from smc_agent.api.ws import WebSocketHub
from smc_agent.control.redis_kv import RedisKeyValueStore
from smc_agent.core.control import ControlStoreUnavailable
from smc_agent.live.streams import RedisStreamBus, TailSource
from smc_agent.logs import get_logger
from smc_agent.ops.status import system_status
from smc_agent.store.db import database_error

log = get_logger("smc_agent.api")

ALL_ROLES = frozenset({"api", "ws", "web"})
DEFAULT_SESSION_TTL_S = 12 * 3600

DESCRIPTION = """REST API of the SMC Trading Agent.

Authenticate with `POST /v1/auth/login` (username and password) and send the token as
`Authorization: Bearer <token>`, or use an API key (`X-API-Key: smc_xxxxxx_...`).
Roles: **viewer** reads, **trader** manages their own bots, keys and backtests, **admin** also
halts, resumes and fails over trading. Every user sees only their own resources.
Refusals: 401 (not authenticated), 403 (not allowed), 429 (rate limited, see `Retry-After`).
"""


def make_session_store(container: ApiContainer, ttl_s: int) -> SessionStore:
    url = container.settings.session_redis_url
    if url:
        return RedisSessionStore(url)
    return DbSessionStore(container.session_factory, ttl_s)


def default_bus(container: ApiContainer) -> JsonBus:
    url = container.settings.redis_url
    return RedisBus(url) if url else LocalBus()


def default_streams(container: ApiContainer) -> RedisStreamBus | None:
    """The services' streams on Redis (separate processes), or None: nothing to relay to /ws."""
    url = container.settings.redis_url
    return RedisStreamBus(url) if url else None


def _limiter(container: ApiContainer, limit: Limit, name: str) -> Limiter:
    """Shared by every replica through the control store's Redis when there is one."""
    kv = container.kv
    if isinstance(kv, RedisKeyValueStore):
        return SharedRateLimiter(limit, kv.client, name=name)
    return RateLimiter(limit)


def create_app(
    container: ApiContainer,
    *,
    bus: JsonBus | None = None,
    roles: Collection[str] = ALL_ROLES,
    rate_limits: RateLimits | None = None,
    session_ttl_s: int = DEFAULT_SESSION_TTL_S,
    backtest_runner: BacktestRunner | None = None,
    ws_queue_size: int = 4096,
    ws_stall_s: float = 5.0,
    ws_revalidate_s: float = 5.0,
    cors_origins: Collection[str] = (),
    watch_control: bool = True,
    components: dict[str, dict[str, Any]] | None = None,
    streams: TailSource | None = None,
) -> FastAPI:
    """``streams``: where the engines' events and candles are, relayed to /ws (``smc-agent run`` and
    ``demo`` pass their in-process bus; default: Redis Streams when ``SMC_REDIS_URL`` is set)."""
    unknown = set(roles) - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}: expected some of {sorted(ALL_ROLES)}")
    limits = rate_limits or RateLimits()
    metrics = ApiMetrics()
    sessions = make_session_store(container, session_ttl_s)
    authenticator = Authenticator(
        factory=container.session_factory, sessions=sessions, session_ttl_s=session_ttl_s
    )
    the_bus = bus or default_bus(container)
    hub = (
        WebSocketHub(
            authenticator=authenticator,
            metrics=metrics,
            queue_size=ws_queue_size,
            stall_s=ws_stall_s,
            revalidate_every_s=ws_revalidate_s,
        )
        if "ws" in roles
        else None
    )
    state = ApiState(
        container=container,
        sessions=sessions,
        authenticator=authenticator,
        limiter=_limiter(container, limits.per_principal, "principal"),
        ip_limiter=RateLimiter(limits.per_ip),
        login_limiter=_limiter(container, limits.login_per_ip, "login"),
        metrics=metrics,
        hub=hub,
        backtests=BacktestLauncher(
            container.session_factory,
            backtest_runner
            if backtest_runner is not None
            else store_backtest_runner(container.session_factory, container.settings.data_dir / "reports"),
        ),
        status=Coalescer(lambda: system_status(container, components=state.components)),  # type: ignore[arg-type]
        components=components if components is not None else {},
    )
    watcher = ControlWatcher(container, the_bus) if hub is not None and watch_control else None
    own_streams = default_streams(container) if hub is not None and streams is None else None
    source = streams if streams is not None else own_streams
    relay = (
        StreamRelay(source, hub.deliver, container.session_factory)
        if hub is not None and source is not None
        else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await the_bus.start()
        if hub is not None:
            await hub.start(the_bus)
        if watcher is not None:
            watcher.start()
        if relay is not None:
            relay.start()
        try:
            yield
        finally:
            if relay is not None:
                await relay.stop()
            if own_streams is not None:
                await own_streams.close()
            if watcher is not None:
                await watcher.stop()
            if hub is not None:
                await hub.stop()
            await the_bus.stop()
            state.backtests.shutdown()
            if isinstance(sessions, RedisSessionStore):
                sessions.close()

    app = FastAPI(
        title="SMC Trading Agent API",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if "api" in roles else None,
        redoc_url=None,
        openapi_url="/openapi.json" if "api" in roles else None,
    )
    app.state.api = state
    app.state.bus = the_bus
    app.state.relay = relay
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(ControlStoreUnavailable, _control_store_down)
    app.add_exception_handler(DBAPIError, _database_down)
    if cors_origins:  # off by default: the dashboard is served from the same origin
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_credentials=False,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(BodyLimitMiddleware)  # inside the access log: a 413 is logged like any answer
    app.add_middleware(AccessLogMiddleware, metrics=metrics)
    app.include_router(system.router)
    if "api" in roles:
        for module in (account, resources, records, market, backtests, control, incidents):
            app.include_router(module.router)
        app.include_router(report_links.router)
    if hub is not None:

        @app.websocket("/ws")
        async def websocket(ws: WebSocket) -> None:
            await hub.serve(ws)

    if "web" in roles:
        mount_dashboard(app)
    app.openapi = lambda: _openapi_with_refusals(app)  # type: ignore[method-assign]
    return app


REFUSALS = {
    "400": {"description": "Malformed request body."},
    "401": {"description": "Not authenticated (or the credentials are no longer valid)."},
    "403": {"description": "Authenticated but not allowed (role or API key scope)."},
    "429": {
        "description": "Rate limited: retry after the number of seconds in Retry-After.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    },
}


def _openapi_with_refusals(app: FastAPI) -> dict[str, Any]:
    """Document the refusals every /v1 operation can answer (FastAPI only knows 200 and 422)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                codes = ["401", "403", "429"] if path.startswith("/v1") else []
                if "requestBody" in operation:
                    codes.append("400")
                for code in codes:
                    responses.setdefault(code, REFUSALS[code])
        app.openapi_schema = schema
    return app.openapi_schema


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    """A database that does not answer (or has no schema) is the service unavailable, said: every login
    was a bare 500."""
    assert isinstance(exc, DBAPIError)
    first = database_error(exc)
    log.error("database error answering a request", path=request.url.path, error=first)
    return JSONResponse({"detail": f"database unavailable: {first}"}, status_code=503)


async def _control_store_down(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"control store unreachable: {exc}"}, status_code=503)
