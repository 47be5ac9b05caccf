"""kill -9 of the execution-engine process at random points: no duplicate, lost order or lost fill."""

from __future__ import annotations

import os

from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config
from tests.live.crash_harness import CrashRig, fork_context, run_crash_trials

TRIALS = int(os.environ.get("SMC_CRASH_TRIALS", "50"))


async def test_kill_minus_nine_trials(
    sim: ExchangeSimulator, migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    sim.fault(slow_ms=3)  # widen the windows between write-ahead, send, ack and database update
    config = execution_config(migrated_pg_url, redis_pair[0], sim, poll_interval_s=0.2)
    config = type(config)(**{**{f: getattr(config, f) for f in config.__slots__}, "log_level": "ERROR"})
    rig = CrashRig(sim, config, fork_context())
    try:
        report = await run_crash_trials(rig, TRIALS, seed=7, batch=4, max_delay_s=0.3)
    finally:
        rig.close()
    assert report.trials == TRIALS, report.problems[:5]
    assert report.clean, report.problems[:10]
    assert report.duplicates == 0 and report.lost_orders == 0 and report.lost_fills == 0
    assert report.position_mismatches == 0
    assert report.killed_mid_flight >= TRIALS // 4, "the kills must land inside the order flow"
    assert report.venue_orders > 0
