"""wrk against /health and /v1/status of the api-gateway on ONE uvicorn worker.

Peer in the same run: a bare FastAPI app answering /health with no middleware, on the same server
settings, so the ratio shows what the access log, security headers and metrics cost.
The gateway runs with its production logging (JSON access log, to /dev/null here) and rate limits
raised out of the way (wrk is one client IP). Database: SQLite (embedded default) unless
``--database-url`` / ``--redis-url`` are given.

    uv run python bench/api_http.py --duration 10 --connections 32
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GATEWAY = """
import sys, uvicorn
from smc_agent.api.app import create_app
from smc_agent.api.ratelimit import Limit, RateLimits
from smc_agent.bootstrap import Container
from smc_agent.logs import configure_logging
from smc_agent.settings import load_settings
settings = load_settings()
configure_logging(level="INFO", fmt="json")
big = Limit(per_minute=10**9, burst=10**9)
app = create_app(Container(settings), roles={"api"}, rate_limits=RateLimits(big, big, big))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, workers=1)
"""
PEER = """
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/health")
async def health():
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, workers=1)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(code: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("server did not start") from None
            time.sleep(0.1)


def wrk(url: str, duration: int, connections: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_text = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99_text is not None, out
    value, unit = float(p99_text.group(1)), p99_text.group(2)
    p99_ms = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx answers\n{out}")
    return rps, p99_ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    from smc_agent.store import migrate

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        env = {**os.environ, "SMC_DATABASE_URL": url, "SMC_DATA_DIR": tmp}
        if args.redis_url:
            env["SMC_REDIS_URL"] = args.redis_url
        rows = []
        for name, code, paths in (
            ("peer (bare FastAPI)", PEER, ["/health"]),
            ("api-gateway", GATEWAY, ["/health", "/v1/status"]),
        ):
            proc, port = start(code, env)
            try:
                for path in paths:
                    wrk(f"http://127.0.0.1:{port}{path}", 2, args.connections)  # warm-up
                    rps, p99 = wrk(f"http://127.0.0.1:{port}{path}", args.duration, args.connections)
                    rows.append((name, path, rps, p99))
            finally:
                proc.terminate()
                proc.wait(10)
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"one uvicorn worker, wrk -t2 -c{args.connections} -d{args.duration}s, {backend}"
        f"{' + Redis' if args.redis_url else ' + embedded control store'}"
    )
    for name, path, rps, p99 in rows:
        print(f"  {name:22s} {path:11s} {rps:9.0f} req/s   p99 {p99:7.2f} ms")
    peer = rows[0][2]
    gateway_health = rows[1][2]
    print(f"  ratio api-gateway/peer on /health: {gateway_health / peer:.2f}")


if __name__ == "__main__":
    main()
