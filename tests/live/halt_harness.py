"""One halt-latency trial: orders flow at a high rate through the execution engine to the exchange
simulator, the playbook's raw redis-py ``SET emergency_halt true`` (+ ``EXPIRE 3600``) is issued from
another thread, and we measure what reached the venue afterwards and how long cancel-all took.

Shared by ``tests/live/test_halt.py`` and ``bench/halt_latency.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass

import redis

from smc_agent.live.codec import encode
from smc_agent.live.execution_service import ExecutionService
from smc_agent.live.streams import ORDERS_STREAM
from smc_agent.venues.simulator import ExchangeSimulator
from smc_agent.venues.simulator.book import SimOrder
from tests.live.conftest import order

_ids = itertools.count(1)


@dataclass(frozen=True)
class HaltTrial:
    orders_before: int  # orders of this trial that reached the venue before the SET returned
    arrived_after_set: int  # orders that reached the venue after the SET returned
    authorized_after_set: int  # orders the gateway let through after the SET returned (must be 0)
    in_flight_at_set: int  # arrived after the SET but authorized before it (already on the wire)
    halt_to_last_order_s: float  # SET returned -> last order arrival at the venue (0 if none after)
    cancel_all_s: float  # SET returned -> every working entry order cancelled at the venue
    working_after: int  # working entry orders left at the venue (must be 0)


class ArrivalLog:
    """Times (monotonic and wall) at which the simulator's book accepted each new order."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        self.arrivals: dict[str, tuple[float, float]] = {}
        sim.state.book.listeners.append(self._on_order)

    def _on_order(self, o: SimOrder) -> None:
        if o.client_id not in self.arrivals:
            self.arrivals[o.client_id] = (time.monotonic(), time.time())


def playbook_set(redis_url: str, out: dict[str, float]) -> None:
    """Exactly the playbook's commands, through a fresh raw redis-py client."""
    r = redis.Redis.from_url(redis_url)
    r.set("emergency_halt", "true")
    out["mono"], out["wall"] = time.monotonic(), time.time()
    r.expire("emergency_halt", 3600)
    r.close()


async def halt_trial(
    service: ExecutionService,
    sim: ExchangeSimulator,
    log: ArrivalLog,
    redis_url: str,
    *,
    flow_s: float = 1.5,
    interval_s: float = 0.002,
    batch: int = 4,
) -> HaltTrial:
    stop = asyncio.Event()

    async def produce() -> None:
        while not stop.is_set():
            for _ in range(batch):
                n = next(_ids)
                cmd = order(n, price=f"{30_000 + (n % 500)}", prefix=f"smc-h{int(time.time())}")
                await service.bus.publish(ORDERS_STREAM, encode(cmd))
            await asyncio.sleep(interval_s)

    t_start = time.monotonic()
    producer = asyncio.get_running_loop().create_task(produce())
    await asyncio.sleep(flow_s)
    when: dict[str, float] = {}
    thread = threading.Thread(target=playbook_set, args=(redis_url, when))
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.0005)
    t_set = when["mono"]
    book = sim.state.book
    deadline = time.monotonic() + 20
    while book.open_orders(None) and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    t_cancelled = time.monotonic()
    await asyncio.sleep(0.3)  # orders keep flowing into the (halted) gateway meanwhile
    stop.set()
    await producer
    after = {cid: t for cid, t in log.arrivals.items() if t[0] > t_set}
    authorized = dict(service.gateway.stats.authorized)
    auth_after = sum(1 for cid, wall in authorized.items() if wall > when["wall"])
    in_flight = sum(1 for cid in after if authorized.get(cid, float("inf")) <= when["wall"])
    last = max((t[0] for t in after.values()), default=t_set)
    return HaltTrial(
        orders_before=sum(1 for t in log.arrivals.values() if t_start <= t[0] <= t_set),
        arrived_after_set=len(after),
        authorized_after_set=auth_after,
        in_flight_at_set=in_flight,
        halt_to_last_order_s=last - t_set,
        cancel_all_s=t_cancelled - t_set,
        working_after=len(book.open_orders(None)),
    )
