"""Failover drill: stream candles from a Binance simulator, kill it, measure how long until candles
continue from a Bybit simulator, and check that the consumer saw no gap and no duplicate.

Used by the failover test and by ``bench/failover_time.py``; also a way to rehearse the incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from smc_agent.core.candle import Candle
from smc_agent.marketdata.stream import LiveCandleStream
from smc_agent.venues.client import make_client
from smc_agent.venues.failover import FailoverController, FailoverPolicy, InMemoryFailoverState
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.health import HealthMonitor, HealthPolicy
from smc_agent.venues.simulator import ExchangeSimulator, Feed, SimulatorConfig


@dataclass(frozen=True, slots=True)
class DrillResult:
    failover_s: float  # kill -> first candle from the backup handed to the consumer
    candles: list[Candle]
    events: list[tuple[str, str, str, str]]

    @property
    def open_times(self) -> list[int]:
        return [c.open_time for c in self.candles]


@dataclass(frozen=True, slots=True)
class DrillConfig:
    candles_before_kill: int = 14  # the first 10 are backfilled at start, then live ones
    candles_after_kill: int = 8
    step_interval_s: float = 0.1  # one candle closes per step on both simulators
    unhealthy_for_s: float = 1.0
    probe_interval_s: float = 0.2
    poll_interval_s: float = 0.1
    timeout_s: float = 30.0


async def run_failover_drill(feed: Feed, config: DrillConfig | None = None) -> DrillResult:
    cfg = config or DrillConfig()
    anchor = 1_700_000_000_000 - 1_700_000_000_000 % feed.tf_ms
    sims = {
        venue: ExchangeSimulator(
            SimulatorConfig(venue=venue, feeds=(feed,), start_index=50, anchor_ms=anchor)
        )
        for venue in ("binance", "bybit")
    }
    async with contextlib.AsyncExitStack() as stack:
        for sim in sims.values():
            await stack.enter_async_context(sim)
        gateways = {
            v: CcxtGateway(make_client(v, base_url=s.url, timeout_ms=1000), venue=v) for v, s in sims.items()
        }
        for gw in gateways.values():
            stack.push_async_callback(gw.close)
        monitor = HealthMonitor(
            gateways, policy=HealthPolicy(interval_s=cfg.probe_interval_s, probe_timeout_s=0.5)
        )
        state = InMemoryFailoverState("binance")
        controller = FailoverController(
            monitor,
            state,
            FailoverPolicy(unhealthy_for_s=cfg.unhealthy_for_s, interval_s=cfg.poll_interval_s / 2),
        )
        stream = LiveCandleStream(
            lambda: gateways[state.active_venue()],
            "BTC/USDT",
            feed.timeframe,
            start_after_ms=anchor - 10 * feed.tf_ms,
            poll_interval_s=cfg.poll_interval_s,
        )
        alive = dict(sims)

        async def drive() -> None:
            while True:
                await asyncio.sleep(cfg.step_interval_s)
                for sim in alive.values():
                    sim.step(1)

        tasks = [asyncio.create_task(t) for t in (drive(), monitor.run(), controller.run())]
        received: list[Candle] = []
        killed_at: float | None = None
        first_backup_at: float | None = None
        try:
            async with asyncio.timeout(cfg.timeout_s):
                async for candle in stream.candles():
                    received.append(candle)
                    if killed_at is None and len(received) >= cfg.candles_before_kill:
                        await alive.pop("binance").stop()  # the primary dies
                        killed_at = time.monotonic()
                    elif killed_at is not None and candle.venue == "bybit":
                        first_backup_at = first_backup_at or time.monotonic()
                        if sum(c.venue == "bybit" for c in received) >= cfg.candles_after_kill:
                            break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if killed_at is None or first_backup_at is None:
            raise RuntimeError("failover drill ended before candles came from the backup venue")
        return DrillResult(first_backup_at - killed_at, received, list(state.events))
