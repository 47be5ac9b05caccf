"""WebSocket ``/ws``: authenticated fan-out of the event bus to many clients.

Each client has a bounded queue of already-serialised frames and its own writer task. Delivery only
enqueues (never awaits), so a slow client cannot slow the others. A client is dropped (close code
1013, "slow consumer") when one frame has been stuck in its socket for ``stall_s`` seconds, or when
its queue reaches ``queue_size`` frames; a burst that a healthy client drains in time is fine. Authentication: ``Authorization: Bearer`` or
``X-API-Key`` header (``wscat -H``), or a first message ``{"op": "auth", "token": "..."}`` within
5 s (what browsers use). Never a query string: proxies and ingresses log URLs. Sessions are re-validated every
few seconds, so a logout, ``FLUSHDB`` or a disabled user also ends the stream.

Frames: one message is a JSON object ``{"channel", "user_id", "ts", "data"}``; when several messages
are waiting for a client they go out together as one JSON array of such objects (a burst costs one
frame per client instead of one per message).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from smc_agent.api.auth import Authenticator
from smc_agent.api.bus import CHANNELS, JsonBus
from smc_agent.api.errors import ApiError
from smc_agent.api.metrics import ApiMetrics
from smc_agent.api.principal import Principal
from smc_agent.logs import get_logger

log = get_logger("smc_agent.api.ws")

SLOW_CONSUMER = 1013
POLICY_VIOLATION = 1008
AUTH_TIMEOUT_S = 5.0
MAX_BATCH = 500
MAX_BATCH_BYTES = 256 * 1024  # a frame stays well under clients' usual 1 MiB message limit


@dataclass(eq=False)
class Client:
    ws: WebSocket
    principal: Principal
    credential: str
    queue: asyncio.Queue[tuple[float, str]]
    channels: set[str] = field(default_factory=lambda: set(CHANNELS))
    writer: asyncio.Task[None] | None = None
    dropped: bool = False
    sending_since: float | None = None
    close_code: int = 1000
    close_reason: str = ""

    def wants(self, channel: str, user_id: str | None) -> bool:
        """A user's message (their orders, trades, positions) goes to that user only, admins included:
        what the REST API shows them; a message of no user (market data, trading state) to everyone."""
        if channel not in self.channels:
            return False
        return user_id is None or user_id == self.principal.user_id


class WebSocketHub:
    def __init__(
        self,
        *,
        authenticator: Authenticator,
        metrics: ApiMetrics,
        queue_size: int = 4096,
        stall_s: float = 5.0,
        revalidate_every_s: float = 5.0,
    ) -> None:
        self._auth = authenticator
        self._metrics = metrics
        self._queue_size = queue_size
        self._stall_s = stall_s
        self._sweeper: asyncio.Task[None] | None = None
        self._revalidate_every_s = revalidate_every_s
        self._clients: set[Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._unsubscribe: Any = None
        self._revalidator: asyncio.Task[None] | None = None

    @property
    def client_count(self) -> int:
        return len(self._clients)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, bus: JsonBus) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._unsubscribe = bus.subscribe(self.deliver)
        self._revalidator = asyncio.create_task(self._revalidate_forever(), name="ws-revalidate")
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="ws-stall-sweeper")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in (self._revalidator, self._sweeper):
            if task is not None:
                task.cancel()
        for client in list(self._clients):
            self._drop(client, code=1001, reason="server shutting down")

    # ------------------------------------------------------------------ fan-out
    def deliver(self, channel: str, user_id: str | None, text: str) -> None:
        """Bus subscriber: thread-safe, never blocks."""
        if self._loop is None:
            return
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._fan_out, channel, user_id, text)
        else:
            self._fan_out(channel, user_id, text)

    def _fan_out(self, channel: str, user_id: str | None, text: str) -> None:
        sent = 0
        now = time.monotonic()
        for client in tuple(self._clients):
            if not client.wants(channel, user_id):
                continue
            try:
                client.queue.put_nowait((now, text))
                sent += 1
            except asyncio.QueueFull:
                self._drop(client, code=SLOW_CONSUMER, reason="slow consumer: too many unsent messages")
        self._metrics.ws_messages.inc(sent)

    def _drop(self, client: Client, *, code: int, reason: str) -> None:
        if client.dropped:
            return
        client.dropped = True
        self._clients.discard(client)
        self._metrics.ws_clients.set(len(self._clients))
        if code == SLOW_CONSUMER:
            self._metrics.ws_dropped.inc()
            log.warning("websocket client dropped", reason=reason, user_id=client.principal.user_id)
        client.close_code, client.close_reason = code, reason
        if client.writer is not None:
            client.writer.cancel()

    # ------------------------------------------------------------------ one connection
    async def serve(self, ws: WebSocket) -> None:
        credential = _header_credential(ws)
        await ws.accept()
        if credential is None:
            credential = await _first_message_credential(ws)
        principal = await self._authenticate(ws, credential)
        if principal is None:
            return
        ws.scope.setdefault("state", {})["principal"] = principal
        client = Client(
            ws=ws,
            principal=principal,
            credential=credential or "",
            queue=asyncio.Queue(maxsize=self._queue_size),
        )
        self._clients.add(client)
        self._metrics.ws_clients.set(len(self._clients))
        await ws.send_text(
            json.dumps({"type": "welcome", "user": principal.username, "channels": sorted(client.channels)})
        )
        client.writer = asyncio.create_task(self._write(client))
        reader = asyncio.create_task(self._read(client))
        try:
            await asyncio.wait({client.writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            client.writer.cancel()
            self._clients.discard(client)
            self._metrics.ws_clients.set(len(self._clients))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=client.close_code, reason=client.close_reason), 1.0)

    async def _authenticate(self, ws: WebSocket, credential: str | None) -> Principal | None:
        try:
            principal = await run_in_threadpool(self._auth.authenticate, credential)
            if "read" not in principal.scopes:  # the stream carries what /v1/positions does
                raise ApiError(403, "this API key lacks the read scope the event stream needs")
            return principal
        except ApiError as exc:
            ws.scope.setdefault("state", {})["status_override"] = exc.status
            ws.scope["state"]["refusal"] = exc.detail
            with contextlib.suppress(Exception):
                await ws.send_text(json.dumps({"type": "error", "status": exc.status, "detail": exc.detail}))
                await ws.close(code=POLICY_VIOLATION, reason=exc.detail[:120])
            return None

    async def _write(self, client: Client) -> None:
        queue, send, lag = client.queue, client.ws.send_text, self._metrics.ws_send_lag
        while True:
            enqueued, text = await queue.get()
            if not queue.empty():  # a burst: everything waiting goes out as one JSON array frame
                batch, size = [text], len(text)
                while not queue.empty() and len(batch) < MAX_BATCH and size < MAX_BATCH_BYTES:
                    batch.append(queue.get_nowait()[1])
                    size += len(batch[-1])
                text = "[" + ",".join(batch) + "]"
            client.sending_since = time.monotonic()
            await send(text)
            client.sending_since = None
            lag.observe(time.monotonic() - enqueued)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._stall_s / 4)
            now = time.monotonic()
            for client in tuple(self._clients):
                if client.sending_since is not None and now - client.sending_since > self._stall_s:
                    self._drop(
                        client,
                        code=SLOW_CONSUMER,
                        reason=f"slow consumer: a frame stuck for more than {self._stall_s:g}s",
                    )

    async def _read(self, client: Client) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                raw = await client.ws.receive_text()
                try:
                    message = json.loads(raw)
                    op = message.get("op")
                    wanted = {c for c in message.get("channels", []) if c in CHANNELS}
                except (ValueError, AttributeError, TypeError):
                    continue
                if op == "subscribe":
                    client.channels |= wanted
                elif op == "unsubscribe":
                    client.channels -= wanted
                elif op == "ping":
                    with contextlib.suppress(asyncio.QueueFull):
                        client.queue.put_nowait((time.monotonic(), json.dumps({"type": "pong"})))

    async def _revalidate_forever(self) -> None:
        while True:
            await asyncio.sleep(self._revalidate_every_s)
            clients = list(self._clients)
            if clients:
                invalid = await run_in_threadpool(self._invalid, clients)
                for client in invalid:
                    self._drop(client, code=POLICY_VIOLATION, reason="session ended")

    def _invalid(self, clients: list[Client]) -> list[Client]:
        verdict: dict[str, bool] = {}
        invalid = []
        for client in clients:
            if client.credential not in verdict:
                try:
                    self._auth.authenticate(client.credential)
                    verdict[client.credential] = True
                except ApiError:
                    verdict[client.credential] = False
                except Exception:  # a store hiccup is not a logout
                    verdict[client.credential] = True
            if not verdict[client.credential]:
                invalid.append(client)
        return invalid


def _header_credential(ws: WebSocket) -> str | None:
    if ws.headers.get("x-api-key"):
        return ws.headers["x-api-key"]
    auth = ws.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


async def _first_message_credential(ws: WebSocket) -> str | None:
    try:
        raw = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S)
        message = json.loads(raw)
    except (TimeoutError, ValueError, WebSocketDisconnect, RuntimeError):
        return None
    if isinstance(message, dict) and message.get("op") == "auth" and isinstance(message.get("token"), str):
        return str(message["token"])
    return None
