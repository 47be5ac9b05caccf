"""One ASGI app on a public listener and, optionally, an admin listener (loopback by default).

The public listener follows the control store's public-traffic switch (``smc_agent.control.traffic``):
it closes when traffic is blocked (new connections are refused, open ones are shut down) and reopens
when the block is lifted. The admin listener never closes, so operators keep /health, /v1/status and the
control endpoints during containment. The app's lifespan runs once for both listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import uvicorn

from smc_agent.control.traffic import TrafficBlock
from smc_agent.logs import get_logger

log = get_logger("smc_agent.api.listeners")


@dataclass(frozen=True)
class Bind:
    host: str
    port: int

    def __str__(self) -> str:
        return f"http://{self.host}:{self.port}"


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the ListenerSet (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _serve(server: uvicorn.Server) -> None:
    """uvicorn exits the process (sys.exit) when it cannot bind: contain that to this listener."""
    try:
        await server.serve()
    except SystemExit:
        log.error("listener stopped: could not bind", port=server.config.port)


class ListenerSet:
    def __init__(
        self,
        app: Any,
        public: Bind,
        *,
        admin: Bind | None = None,
        blocked: Callable[[], TrafficBlock | None] | None = None,
        poll_s: float = 0.5,
        uvicorn_options: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.public = public
        self.admin = admin
        self._blocked = blocked
        self._poll_s = poll_s
        self._options = uvicorn_options or {}
        self._stop = asyncio.Event()
        self._servers: dict[str, tuple[_Server, asyncio.Task[None]]] = {}
        self.public_open = False

    def request_stop(self) -> None:
        self._stop.set()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        async with self.app.router.lifespan_context(self.app):
            if self.admin is not None:
                await self._open("admin", self.admin)
            block = await self._read_block(None)
            if block is None:
                await self._open("public", self.public)
            else:
                log.warning("public traffic blocked: public listener stays closed", reason=block.reason)
            try:
                await self._follow_switch(block)
            finally:
                for name in list(self._servers):
                    await self._close(name)

    async def _follow_switch(self, block: TrafficBlock | None) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._poll_s)
            if self._stop.is_set():
                return
            block = await self._read_block(block)
            if block is not None and self.public_open:
                log.warning(
                    "public traffic blocked: closing the public listener",
                    listener=str(self.public),
                    reason=block.reason,
                    actor=block.actor,
                )
                await self._close("public")
            elif block is None and not self.public_open:
                log.warning(
                    "public traffic unblocked: reopening the public listener", listener=str(self.public)
                )
                await self._open("public", self.public, fatal=False)  # the admin listener must survive

    async def _read_block(self, last: TrafficBlock | None) -> TrafficBlock | None:
        if self._blocked is None:
            return None
        try:
            return await asyncio.to_thread(self._blocked)
        except Exception as exc:  # control store down: keep the listeners as they are, do not flap
            log.warning("cannot read the public-traffic switch; listeners unchanged", error=str(exc))
            return last

    async def _open(self, name: str, bind: Bind, *, fatal: bool = True) -> None:
        config = uvicorn.Config(
            self.app, host=bind.host, port=bind.port, lifespan="off", log_config=None, **self._options
        )
        server = _Server(config)
        task = asyncio.create_task(_serve(server), name=f"listener-{name}")
        while not server.started:
            if task.done():  # bind failed (port in use): uvicorn logged why
                if fatal:
                    raise SystemExit(f"{name} listener could not start on {bind}")
                log.error("listener could not reopen; retrying", listener=name, url=str(bind))
                return
            await asyncio.sleep(0.02)
        self._servers[name] = (server, task)
        if name == "public":
            self.public_open = True
        log.info("listener open", listener=name, url=str(bind))

    async def _close(self, name: str) -> None:
        server, task = self._servers.pop(name)
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        if name == "public":
            self.public_open = False
        log.info("listener closed", listener=name)
