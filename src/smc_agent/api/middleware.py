"""Access log, security headers and request metrics as one pure ASGI middleware.

One structured line per request: ``"GET /v1/me 401"`` plus method, path (never the query string,
which could carry a token), status, latency, user / key id and client IP, so the playbook's
``grep -E "(401|403|429)"`` finds refusals. WebSocket handshakes are logged the same way.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smc_agent.api.metrics import ApiMetrics
from smc_agent.logs import get_logger

access_log = get_logger("smc_agent.api.access")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (
        b"content-security-policy",
        b"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        b"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    ),
]
NO_STORE = (b"cache-control", b"no-store")


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        status_holder = {"status": 0}
        is_api = scope["path"].startswith("/v1") or scope["path"] in ("/health", "/ready", "/metrics")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(
                    h for h in SECURITY_HEADERS if h[0] not in present
                )  # a route may set its own CSP
                headers.append((b"x-request-id", request_id.encode()))
                if is_api:
                    headers.append(NO_STORE)
                message["headers"] = headers
            elif message["type"] == "websocket.accept":
                status_holder["status"] = 101
            elif message["type"] == "websocket.close" and status_holder["status"] == 0:
                status_holder["status"] = 403
            elif message["type"] == "websocket.http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:
                status_holder["status"] = 500
                raise
            finally:
                status = scope["state"].get("status_override") or status_holder["status"] or 500
                self._log(scope, status, time.perf_counter() - start)

    def _log(self, scope: Scope, status: int, elapsed: float) -> None:
        state: dict[str, Any] = scope.get("state", {})
        principal = state.get("principal")
        method = scope.get("method", "WS")
        path = scope["path"]
        route = route_template(scope)
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(route).observe(elapsed)
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": status,
            "latency_ms": round(elapsed * 1000, 2),
            "client_ip": client_ip(scope),
            "user_id": getattr(principal, "user_id", None),
            "key_id": getattr(principal, "key_id", None),
        }
        if state.get("refusal"):
            fields["refusal"] = state["refusal"]
        level = "warning" if status in (401, 403, 429) or status >= 500 else "info"
        getattr(access_log, level)(f"{method} {path} {status}", **fields)
