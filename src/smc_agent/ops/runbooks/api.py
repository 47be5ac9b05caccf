"""API runbooks (P2): high API latency and WebSocket connection issues.

Locally there is one API process: the runbooks measure and verify; scaling and restarting are the
cluster's (the steps print the kubectl commands and are skipped here).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time

import httpx
import websockets
from websockets.exceptions import InvalidStatus

from smc_agent.ops.incidents.priority import Priority
from smc_agent.ops.runbooks.framework import Runbook, RunContext, Skip, Step

NS = "-n smc-trading"


def api_url(ctx: RunContext) -> str:
    if ctx.params.get("api_url"):
        return str(ctx.params["api_url"]).rstrip("/")
    settings = ctx.services.settings
    return f"http://{settings.api_host}:{settings.api_port}"


def _measure(ctx: RunContext) -> str:
    samples = int(ctx.params.get("samples", 20))
    latencies, errors = [], 0
    with httpx.Client(timeout=5.0) as client:
        for _ in range(samples):
            start = time.perf_counter()
            try:
                ok = client.get(f"{api_url(ctx)}/health").is_success
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - start) * 1000)
            errors += 0 if ok else 1
    ordered = sorted(latencies)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank
    ctx.notes["latency"] = {"p50": statistics.median(ordered), "p95": p95, "errors": errors}
    return (
        f"GET /health x{samples}: p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
        f"max {ordered[-1]:.1f} ms, errors {errors}"
    )


def _latency_ok(ctx: RunContext) -> str | None:
    limit = float(ctx.params.get("p95_ms", 500))
    seen = ctx.notes["latency"]
    if seen["errors"]:
        return f"{seen['errors']} request(s) failed"
    return None if seen["p95"] <= limit else f"p95 {seen['p95']:.0f} ms above {limit:.0f} ms"


def _cluster_only(name: str, description: str, kubectl: str) -> Step:
    return Step(
        name,
        description,
        lambda ctx: "",
        precondition=lambda ctx: Skip("single local API process: run the kubectl equivalent on a cluster"),
        kubectl=kubectl,
    )


def high_api_latency() -> Runbook:
    return Runbook(
        "high-api-latency",
        "High API latency",
        Priority.P2,
        (
            Step(
                "measure-latency",
                "Latency of GET /health",
                _measure,
                kubectl=f"kubectl top pods {NS} -l app=api-gateway",
            ),
            _cluster_only(
                "scale-api",
                "Scale the API gateway to 5 replicas",
                f"kubectl scale deployment api-gateway --replicas=5 {NS}",
            ),
            _cluster_only(
                "autoscale-api",
                "Horizontal pod autoscaling 3-10 at 70% CPU",
                f"kubectl autoscale deployment api-gateway --cpu-percent=70 --min=3 --max=10 {NS}",
            ),
            Step(
                "verify-latency",
                "p95 latency under the limit (--param p95_ms, default 500) and no errors",
                _measure,
                verification=_latency_ok,
                kubectl="curl -w '%{time_total}' -f https://api.smc-trading.com/health",
            ),
        ),
    )


async def _handshake(url: str, timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s), websockets.connect(url, open_timeout=timeout_s):
            return "accepted"
    except InvalidStatus as exc:
        return f"rejected with HTTP {exc.response.status_code}"


def _probe_ws(ctx: RunContext) -> str:
    url = api_url(ctx).replace("http", "ws", 1) + "/ws"
    try:
        result = asyncio.run(_handshake(url, float(ctx.params.get("timeout_s", 5))))
    except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
        ctx.notes["ws_alive"] = False
        return f"{url}: unreachable ({exc.__class__.__name__})"
    ctx.notes["ws_alive"] = result == "accepted" or result.endswith(("401", "403"))
    return f"{url}: handshake {result}" + (
        " (authentication required: endpoint alive)" if result.endswith(("401", "403")) else ""
    )


def websocket_issues() -> Runbook:
    return Runbook(
        "websocket-issues",
        "WebSocket connection issues",
        Priority.P2,
        (
            Step(
                "probe-websocket",
                "WebSocket handshake on /ws",
                _probe_ws,
                verification=lambda ctx: (
                    None if ctx.notes.get("ws_alive") else "the /ws endpoint does not answer"
                ),
                kubectl=f"kubectl get endpoints websocket-service {NS}; wscat -c wss://api.smc-trading.com/ws",
            ),
            _cluster_only(
                "restart-websocket-service",
                "Restart the WebSocket service",
                f"kubectl rollout restart deployment/websocket-service {NS}",
            ),
        ),
    )
