"""Crash safety over N ``kill -9`` trials of the execution-engine process (default 200).

Run: ``uv run python bench/crash_trials.py [--trials 200]`` (needs the test suite's PostgreSQL and
Redis). See ``tests/live/crash_harness.py`` for what one trial does and checks. Prints the counts:
duplicates at the venue, lost orders, lost fills, position mismatches (all must be 0), kills that
landed mid-flow, and the restart-to-drained time per trial. The peer measured in the same run is a
clean restart (the first start of the engine): ratio = mean trial time / first-start time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.conftest import _lease, create_pg_database, drop_pg_database  # noqa: E402
from tests.live.conftest import execution_config, simulator_config  # noqa: E402
from tests.live.crash_harness import CrashRig, fork_context, run_crash_trials  # noqa: E402

from smc_agent.logs import configure_logging  # noqa: E402
from smc_agent.store import migrate  # noqa: E402
from smc_agent.venues.simulator import ExchangeSimulator  # noqa: E402


async def bench(trials: int, db_url: str, redis_url: str) -> None:
    async with ExchangeSimulator(simulator_config()) as sim:
        sim.fault(slow_ms=3)
        config = replace(execution_config(db_url, redis_url, sim, poll_interval_s=0.2), log_level="ERROR")
        rig = CrashRig(sim, config, fork_context())
        try:
            t0 = time.monotonic()
            rig.start()
            await rig.settle(120)
            first = time.monotonic() - t0
            rig.kill()
            t1 = time.monotonic()
            report = await run_crash_trials(rig, trials, seed=11, batch=4, max_delay_s=0.3)
            per_trial = (time.monotonic() - t1) / max(report.trials, 1)
        finally:
            rig.close()
    print(f"trials {report.trials}/{trials}, commands {report.commands}, venue orders {report.venue_orders}")
    print(f"kills landing mid-flow: {report.killed_mid_flight}")
    print(
        f"duplicates at venue: {report.duplicates}, lost orders: {report.lost_orders}, "
        f"lost fills: {report.lost_fills}, position mismatches: {report.position_mismatches}"
    )
    print(
        f"mean trial (commands + kill + restart + reconcile + drain): {per_trial:.2f} s; "
        f"first start {first:.2f} s; ratio {per_trial / first:.2f}"
    )
    if not report.clean:
        print("PROBLEMS:", *report.problems[:20], sep="\n  ")
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    configure_logging(level="ERROR", fmt="json")
    name = f"smc_bench_crash_{uuid.uuid4().hex[:8]}"
    db_url = create_pg_database(name)
    migrate.upgrade(db_url)
    lease = _lease((12, 13), 300)
    redis_url, _ = next(lease)
    try:
        asyncio.run(bench(args.trials, db_url, redis_url))
    finally:
        next(lease, None)
        drop_pg_database(name)


if __name__ == "__main__":
    main()
