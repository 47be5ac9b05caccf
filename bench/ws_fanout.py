"""WebSocket fan-out: N authenticated clients on loopback receive bursts published on Redis.

The websocket-service runs in its own process (``create_app(roles={"ws"})`` under uvicorn, events
from Redis pub/sub as in production); the clients run here. Lag = client receive time - publish
time stamped in the message. Peer in the same run: one plain Redis subscriber (what the bus alone
costs), so the ratio shows what authentication-free fan-out to N sockets adds on top.
A stalled client (never reads) is connected too: it must be dropped and must not slow the others.

    uv run python bench/ws_fanout.py --clients 1000 --bursts 5 --burst-size 50
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import websockets

REDIS_DB = 14  # the bench's sessions: tests lease 0..13, db 15 holds their locks
CONTROL_DB = 15  # its control store (never the sessions' database); beside the tests' lock keys
SERVER = """
import sys, uvicorn
from smc_agent.api.app import create_app
from smc_agent.logs import configure_logging
configure_logging(level="WARNING", fmt="json")
from smc_agent.bootstrap import Container
from smc_agent.settings import load_settings
app = create_app(Container(load_settings()), roles={"ws"}, ws_stall_s=2.0, watch_control=False)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, ws_ping_interval=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(tmp: Path) -> tuple[dict[str, str], str]:
    from smc_agent.api.auth import Authenticator
    from smc_agent.api.sessions import RedisSessionStore
    from smc_agent.store import migrate
    from smc_agent.store.db import make_engine, make_session_factory, transaction
    from smc_agent.store.users import create_user

    url = f"sqlite:///{tmp / 'bench.db'}"
    migrate.upgrade(url)
    factory = make_session_factory(make_engine(url))
    with transaction(factory) as session:
        create_user(session, username="bench", password="bench-password", role="viewer")
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    store = RedisSessionStore(redis_url)
    auth = Authenticator(factory=factory, sessions=store, session_ttl_s=3600)
    token = auth.login(username="bench", password="bench-password", ip="127.0.0.1", user_agent="bench").token
    env = {
        **os.environ,
        "SMC_DATABASE_URL": url,
        "SMC_REDIS_URL": f"redis://127.0.0.1:6379/{CONTROL_DB}",
        "SMC_SESSION_REDIS_DB": str(REDIS_DB),
        "SMC_LOG_LEVEL": "WARNING",
        "SMC_DATA_DIR": str(tmp),
    }
    return env, token


def stalled_client(port: int, token: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return sock


async def run(args: argparse.Namespace, port: int, token: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    clients = []
    t0 = time.perf_counter()
    for start in range(0, args.clients, 100):
        batch = await asyncio.gather(
            *(
                websockets.connect(
                    f"ws://127.0.0.1:{port}/ws",
                    additional_headers=headers,
                    max_size=2**20,
                    ping_interval=None,
                )
                for _ in range(start, min(args.clients, start + 100))
            )
        )
        await asyncio.gather(*(ws.recv() for ws in batch))  # welcome
        clients.extend(batch)
    connect_s = time.perf_counter() - t0
    stalled = stalled_client(port, token)
    expected = args.bursts * args.burst_size
    lags: list[float] = []
    peer_lags: list[float] = []
    pad = "x" * args.payload

    async def drain(ws: websockets.ClientConnection) -> int:
        got = 0
        while got < expected:
            frame = json.loads(await ws.recv())
            now = time.time() * 1000
            for message in frame if isinstance(frame, list) else [frame]:
                lags.append(now - message["ts"])
                got += 1
        return got

    async def peer() -> None:
        from redis.asyncio import Redis

        sub = Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}").pubsub()
        await sub.subscribe("smc:events")
        got = 0
        async for message in sub.listen():
            if message["type"] == "message":
                peer_lags.append(time.time() * 1000 - json.loads(message["data"])["ts"])
                got += 1
                if got >= expected:
                    break
        await sub.aclose()

    from smc_agent.api.bus import RedisBus

    bus = RedisBus(f"redis://127.0.0.1:6379/{REDIS_DB}")
    peer_task = asyncio.create_task(peer())
    await asyncio.sleep(0.3)
    t1 = time.perf_counter()
    receivers = asyncio.gather(*(drain(ws) for ws in clients))
    for burst in range(args.bursts):
        await asyncio.to_thread(
            lambda b=burst: [
                bus.publish("candles", {"burst": b, "i": i, "pad": pad}) for i in range(args.burst_size)
            ]
        )
        await asyncio.sleep(args.gap)
    counts = await asyncio.wait_for(receivers, timeout=300)
    await asyncio.wait_for(peer_task, timeout=30)
    deliver_s = time.perf_counter() - t1
    complete = sum(1 for c in counts if c == expected)
    stalled.close()
    for ws in clients:
        await ws.close()
    await bus.stop()
    lags.sort()
    peer_lags.sort()
    return {
        "clients": args.clients,
        "complete": complete,
        "messages": len(lags),
        "connect_s": connect_s,
        "deliver_s": deliver_s,
        "p50": statistics.median(lags),
        "p99": lags[int(len(lags) * 0.99) - 1],
        "max": lags[-1],
        "peer_p50": statistics.median(peer_lags),
        "peer_p99": peer_lags[int(len(peer_lags) * 0.99) - 1],
    }


def server_side_lag(port: int) -> dict[str, float]:
    """p50/p99 (bucket upper bounds) of smc_ws_send_lag_seconds: bus -> socket inside the server."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    buckets = []
    for line in text.splitlines():
        if line.startswith("smc_ws_send_lag_seconds_bucket"):
            bound = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0.0

    def quantile(q: float) -> float:
        return next((b for b, count in buckets if count >= q * total), float("nan")) * 1000

    return {"server_frames": total, "server_p50": quantile(0.5), "server_p99": quantile(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--burst-size", type=int, default=50)
    parser.add_argument("--payload", type=int, default=200, help="Padding bytes per message.")
    parser.add_argument("--gap", type=float, default=1.0, help="Seconds between bursts.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env, token = prepare(Path(tmp))
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("websocket-service did not start") from None
                    time.sleep(0.1)
            result = asyncio.run(run(args, port, token))
            result.update(server_side_lag(port))
        finally:
            server.terminate()
            server.wait(10)
            redis.Redis(db=REDIS_DB).flushdb()
    print(
        f"ws fan-out: {result['clients']} clients ({result['complete']} got every message), "
        f"{result['messages']} deliveries in {result['deliver_s']:.1f}s (connect {result['connect_s']:.1f}s)"
    )
    print(f"  lag p50 {result['p50']:.1f} ms  p99 {result['p99']:.1f} ms  max {result['max']:.1f} ms")
    print(
        f"  server side (bus -> socket, {result['server_frames']:.0f} frames): p50 <= {result['server_p50']:.1f} ms"
        f"  p99 <= {result['server_p99']:.1f} ms"
    )
    print(
        f"  peer (one plain Redis subscriber): p50 {result['peer_p50']:.2f} ms  p99 {result['peer_p99']:.2f} ms"
    )
    print(f"  ratio fan-out/peer p50: {result['p50'] / max(result['peer_p50'], 1e-6):.1f}x")


if __name__ == "__main__":
    main()
