"""Liveness and readiness over HTTP for Kubernetes probes.

``GET /healthz``: 200 while the process's event loop answers (liveness).
``GET /readyz``: 200 when the service says it is ready (e.g. the execution engine has reconciled and
its dependencies answer), 503 otherwise; the JSON body says why. A halted engine is *ready*: it is
doing its job (refusing orders), and restarting it would not help.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

Probe = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer:
    def __init__(self, *, name: str, ready: Probe, host: str = "0.0.0.0", port: int = 0) -> None:
        self.name = name
        self.ready = ready
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/readyz", self._ready)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses  # the bound socket names: port 0 becomes the real port
        if addresses:
            self.port = int(addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"service": self.name, "status": "alive"})

    async def _ready(self, _request: web.Request) -> web.Response:
        try:
            ok, detail = self.ready()
        except Exception as exc:
            ok, detail = False, {"error": f"{type(exc).__name__}: {exc}"}
        body = {"service": self.name, "ready": ok, **detail}
        return web.json_response(body, status=200 if ok else 503)
