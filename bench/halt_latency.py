"""Emergency-halt latency over N runs against a running execution engine.

Run: ``uv run python bench/halt_latency.py [--runs 50]`` (needs the PostgreSQL and Redis of the
test suite; Redis dbs 10/11 are leased like the ``redis_pair`` fixture; the test suite runs the same trial on db 0). Each run: orders flow at
the engine's full rate to the exchange simulator, the playbook's raw redis-py ``SET emergency_halt
true`` + ``EXPIRE 3600`` is issued from another thread, then ``DEL`` releases (the engine verifies and
resumes). Reported per run: orders authorised by the gateway after SET returned (must be 0), orders
arriving at the venue after SET returned (only ones already on the wire), SET -> last venue arrival,
and SET -> every working entry order cancelled and verified. The peer measured in the same run is the
engine's own mean order round trip (write-ahead + send + ack + store): the printed ratio is
cancel-all time / one order round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.conftest import _lease, create_pg_database, drop_pg_database  # noqa: E402
from tests.live.conftest import execution_config, simulator_config, wait_for  # noqa: E402
from tests.live.halt_harness import ArrivalLog, halt_trial  # noqa: E402

from smc_agent.live.wiring import build_execution, close_execution  # noqa: E402
from smc_agent.logs import configure_logging  # noqa: E402
from smc_agent.store import migrate  # noqa: E402
from smc_agent.venues.simulator import ExchangeSimulator  # noqa: E402


async def bench(runs: int, db_url: str, redis_url: str) -> None:
    import redis

    async with ExchangeSimulator(simulator_config()) as sim:
        service = build_execution(execution_config(db_url, redis_url, sim))
        await service.start()
        log = ArrivalLog(sim)
        trials = []
        try:
            for i in range(runs):
                trial = await halt_trial(service, sim, log, redis_url, flow_s=1.0)
                trials.append(trial)
                redis.Redis.from_url(redis_url).delete("emergency_halt")
                await wait_for(lambda: not service.gateway.halted, 30, "resume")
                print(f"run {i + 1:3d}: {trial}", flush=True)
        finally:
            await close_execution(service)
    sent = sum(t.orders_before for t in trials)
    flow = 1.0 * len(trials)  # seconds of order flow before each SET
    round_trip = flow / sent  # seconds of flow per order that reached the venue
    cancel = [t.cancel_all_s for t in trials]
    last = [t.halt_to_last_order_s for t in trials]
    print()
    print(f"runs {runs}, orders before the halts {sent} ({sent / flow:.0f} orders/s per run)")
    print(f"orders authorised after SET returned: {sum(t.authorized_after_set for t in trials)} (must be 0)")
    print(
        f"orders arriving after SET returned: {sum(t.arrived_after_set for t in trials)} "
        f"(in flight at SET: {sum(t.in_flight_at_set for t in trials)}), "
        f"runs with any: {sum(1 for t in trials if t.arrived_after_set)}"
    )
    print(f"working entry orders left: {sum(t.working_after for t in trials)} (must be 0)")
    print(
        f"halt -> last order at venue: median {statistics.median(last) * 1000:.1f} ms, max {max(last) * 1000:.1f} ms"
    )
    print(
        f"halt -> cancel-all verified: median {statistics.median(cancel) * 1000:.1f} ms, "
        f"max {max(cancel) * 1000:.1f} ms"
    )
    print(
        f"ratio cancel-all median / order round trip ({round_trip * 1000:.1f} ms): "
        f"{statistics.median(cancel) / round_trip:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    configure_logging(level="ERROR", fmt="json")
    name = f"smc_bench_halt_{uuid.uuid4().hex[:8]}"
    db_url = create_pg_database(name)
    migrate.upgrade(db_url)
    lease = _lease((10, 11), 300)
    redis_url, _ = next(lease)
    started = time.monotonic()
    try:
        asyncio.run(bench(args.runs, db_url, redis_url))
    finally:
        next(lease, None)
        drop_pg_database(name)
    print(f"wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
