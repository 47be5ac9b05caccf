"""/ws: authentication, per-user filtering, fan-out to many clients, a stalled client is dropped
without slowing the others (real uvicorn on loopback, real websockets clients)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from fastapi.testclient import TestClient

from smc_agent.api.app import create_app
from smc_agent.api.bus import LocalBus
from tests.api.conftest import PASSWORD, build_container
from tests.api.server import running


@pytest.fixture
def ws_server(api_sqlite_url: str, tmp_path: Path) -> Iterator[tuple[str, LocalBus, dict[str, str], Any]]:
    container = build_container(api_sqlite_url, tmp_path)
    bus = LocalBus()
    app = create_app(
        container, bus=bus, ws_queue_size=2000, ws_stall_s=0.5, ws_revalidate_s=0.2, watch_control=False
    )
    tokens = {}
    with TestClient(app) as client:  # log in through the real endpoint
        for who in ("alice", "bob", "admin"):
            tokens[who] = client.post("/v1/auth/login", json={"username": who, "password": PASSWORD}).json()[
                "token"
            ]
    with running(app) as address:
        yield address, bus, tokens, app
    container.close()


async def _connect(address: str, token: str | None, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    ws = await websockets.connect(f"ws://{address}/ws", additional_headers=headers, max_size=2**20, **kwargs)
    if token:
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome"
    return ws


async def _publish_from_thread(bus: LocalBus, messages: list[tuple[str, Any, str | None]]) -> None:
    def publish() -> None:
        for channel, data, user in messages:
            bus.publish(channel, data, user_id=user)

    await asyncio.to_thread(publish)


async def test_ws_refuses_without_valid_credentials(ws_server: Any) -> None:
    address, _, tokens, _ = ws_server
    async with websockets.connect(f"ws://{address}/ws") as ws:
        await ws.send(json.dumps({"op": "auth", "token": "sess_forged"}))
        error = json.loads(await ws.recv())
        assert error == {"type": "error", "status": 401, "detail": "session expired or revoked: log in again"}
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # first-message auth (what browsers do) works
    async with websockets.connect(f"ws://{address}/ws") as ws:
        await ws.send(json.dumps({"op": "auth", "token": tokens["alice"]}))
        assert json.loads(await ws.recv())["type"] == "welcome"


async def _messages(ws: Any, count: int) -> list[dict[str, Any]]:
    """The next ``count`` messages (a frame is one message or a JSON array of them)."""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        out.extend(frame if isinstance(frame, list) else [frame])
    assert len(out) == count
    return out


async def test_ws_private_events_reach_only_their_owner(ws_server: Any) -> None:
    address, bus, tokens, _ = ws_server
    alice, bob, admin = [await _connect(address, tokens[w]) for w in ("alice", "bob", "admin")]
    await _publish_from_thread(
        bus, [("orders", {"id": "o1"}, "usr_alice"), ("trading_state", {"state": "halted"}, None)]
    )
    assert [m["channel"] for m in await _messages(alice, 2)] == ["orders", "trading_state"]
    # an admin too sees only their own (as /v1/orders): alice's order went to alice alone
    assert [m["data"] for m in await _messages(admin, 1)] == [{"state": "halted"}]
    assert [m["channel"] for m in await _messages(bob, 1)] == ["trading_state"]  # never alice's order
    # unsubscribe works
    await bob.send(json.dumps({"op": "unsubscribe", "channels": ["trading_state"]}))
    await bob.send(json.dumps({"op": "ping"}))
    assert await _messages(bob, 1) == [{"type": "pong"}]
    await _publish_from_thread(bus, [("trading_state", {"state": "active"}, None), ("venue", {"v": 1}, None)])
    assert [m["channel"] for m in await _messages(bob, 1)] == ["venue"]
    for ws in (alice, bob, admin):
        await ws.close()


def _stalled_client(address: str, token: str) -> socket.socket:
    """A raw WebSocket client that completes the handshake and then never reads again."""
    host, port = address.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def _drain(ws: Any, count: int, lags: list[float]) -> int:
    got = 0
    while got < count:
        frame = json.loads(await ws.recv())
        now = time.time() * 1000
        for message in frame if isinstance(frame, list) else [frame]:
            assert message["data"]["i"] == got  # in order, none lost
            lags.append(now - message["ts"])
            got += 1
    return got


async def test_fanout_burst_reaches_every_client(ws_server: Any) -> None:
    address, bus, tokens, _ = ws_server
    n_clients, burst = 1000, 30  # the 1,000 concurrent authenticated clients
    clients = []
    for _ in range(0, n_clients, 100):
        clients += await asyncio.gather(*(_connect(address, tokens["alice"]) for _ in range(100)))
    lags: list[float] = []
    start = time.perf_counter()
    publisher = asyncio.create_task(
        _publish_from_thread(bus, [("candles", {"i": i, "close": "64000.5"}, None) for i in range(burst)])
    )
    counts = await asyncio.wait_for(asyncio.gather(*(_drain(ws, burst, lags) for ws in clients)), timeout=60)
    await publisher
    elapsed = time.perf_counter() - start
    assert counts == [burst] * n_clients
    lags.sort()
    p50, p99 = statistics.median(lags), lags[int(len(lags) * 0.99)]
    print(
        f"\nws fan-out: {n_clients} clients x {burst} msgs in {elapsed:.2f}s, lag p50 {p50:.1f} ms p99 {p99:.1f} ms"
    )
    for ws in clients:
        await ws.close()


async def test_a_stalled_client_is_dropped_and_does_not_slow_the_others(ws_server: Any) -> None:
    address, bus, tokens, app = ws_server
    fast = [await _connect(address, tokens["alice"]) for _ in range(5)]
    # the stalled client authenticates, then never reads again (its receive buffer fills up)
    stalled = await asyncio.to_thread(_stalled_client, address, tokens["bob"])
    hub = app.state.api.hub
    deadline = time.monotonic() + 5
    while hub.client_count < 6 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert hub.client_count == 6
    burst = 160  # 160 x 64 KiB = 10 MiB: more than the kernel buffers of one loopback socket hold
    pad = "x" * 65536
    lags: list[float] = []
    publisher = asyncio.create_task(
        _publish_from_thread(bus, [("candles", {"i": i, "pad": pad}, None) for i in range(burst)])
    )
    counts = await asyncio.wait_for(asyncio.gather(*(_drain(ws, burst, lags) for ws in fast)), timeout=60)
    await publisher
    assert counts == [burst] * 5  # the healthy clients got everything
    deadline = time.monotonic() + 5
    while hub.client_count > 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert hub.client_count == 5  # the stalled one was dropped, and only it
    assert app.state.api.metrics.ws_dropped._value.get() == 1
    for ws in fast:
        await ws.close()
    stalled.close()


async def test_disabling_the_user_ends_the_stream(ws_server: Any) -> None:
    address, _, tokens, app = ws_server
    ws = await _connect(address, tokens["alice"])
    with app.state.api.container.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET is_active = false WHERE username = 'alice'")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_an_api_key_without_the_read_scope_gets_no_stream(ws_server: Any) -> None:
    # the stream carries the owner's orders, fills and positions: a trade-only key (refused on
    # /v1/positions) was let in
    import httpx

    address, _, tokens, _ = ws_server
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        created = await http.post(
            "/v1/api-keys", json={"scopes": ["trade"]}, headers={"Authorization": f"Bearer {tokens['alice']}"}
        )
        assert created.status_code == 201, created.text
        reader = await http.post(
            "/v1/api-keys", json={"scopes": ["read"]}, headers={"Authorization": f"Bearer {tokens['alice']}"}
        )
    async with websockets.connect(
        f"ws://{address}/ws", additional_headers={"X-API-Key": created.json()["key"]}
    ) as ws:
        error = json.loads(await ws.recv())
        assert error["type"] == "error" and error["status"] == 403 and "read scope" in error["detail"]
    async with websockets.connect(
        f"ws://{address}/ws", additional_headers={"X-API-Key": reader.json()["key"]}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
