"""Redis unreachable means halted: no order is sent; Redis back, still halted until released."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from smc_agent.core.enums import OrderStatus
from smc_agent.live.streams import MemoryStreamBus
from smc_agent.live.wiring import build_execution, close_execution
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, order, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A private redis-server subprocess that the test can kill and restart on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.2).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    try:
        subprocess.run(["redis-server", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        reason = f"redis-server binary not available: {exc}"
        if os.environ.get("SMC_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; SMC_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(reason)
    server = OwnRedis(free_port())
    server.start()
    yield server
    server.kill()


def at_venue(sim: ExchangeSimulator, cid: str) -> bool:
    return any(o.client_id == cid for o in sim.state.book.orders.values())


async def test_redis_down_halts_and_stays_halted_until_released(
    sim: ExchangeSimulator, migrated_pg_url: str, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    service = build_execution(execution_config(migrated_pg_url, own_redis.url, sim), bus=MemoryStreamBus())
    gw = service.gateway
    try:
        await service.start()
        first = order(1, prefix="smc-fc")
        await gw.submit(first)
        assert at_venue(sim, first.client_order_id)

        own_redis.kill()
        blocked = [order(n, prefix="smc-fc") for n in range(2, 7)]
        for cmd in blocked:
            await gw.submit(cmd)
        assert not any(at_venue(sim, c.client_order_id) for c in blocked), "an order went out blind"
        assert gw.halted and "unreachable" in (gw.halted_reason or "")
        await wait_for(lambda: "control store unreachable" in caplog.text, 5, "the alert")
        await wait_for(lambda: not sim.state.book.open_orders(None), 10, "working entries cancelled")

        own_redis.start()  # back, empty: the halt key is gone with the data
        await asyncio.sleep(1.5)
        assert gw.halted, "the control store coming back must not resume trading"
        late = order(10, prefix="smc-fc")
        await gw.submit(late)
        assert not at_venue(sim, late.client_order_id)
        assert redis.Redis.from_url(own_redis.url).get("emergency_halt") == b"true", "halt re-asserted"
        assert "trading resumed" not in caplog.text

        redis.Redis.from_url(own_redis.url).delete("emergency_halt")  # the playbook's release
        await wait_for(lambda: not gw.halted, 20, "verification and resume")
        assert "trading resumed" in caplog.text
        after = order(11, prefix="smc-fc")
        await gw.submit(after)
        stored = gw.repo.get(after.client_order_id)
        assert stored is not None and stored.status == OrderStatus.ACCEPTED.value
    finally:
        await close_execution(service)
