"""Health monitor, failover decisions, and the end-to-end drill: Binance dies, Bybit continues."""

from __future__ import annotations

import itertools

import pytest

from smc_agent.core.errors import VenueUnavailable
from smc_agent.marketdata.drill import DrillConfig, run_failover_drill
from smc_agent.venues.failover import (
    FailoverController,
    FailoverPolicy,
    FailoverStatePort,
    InMemoryFailoverState,
)
from smc_agent.venues.health import HealthMonitor, HealthPolicy
from smc_agent.venues.simulator import Feed
from tests.venues.simkit import synthetic_bars


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pinger:
    """A venue whose ping succeeds or fails on command."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.up = True

    async def fetch_time(self) -> int:
        if not self.up:
            raise VenueUnavailable(f"{self.venue} down")
        return 0


async def test_failover_and_failback_follow_health_over_time() -> None:
    clock = FakeClock()
    pingers = {"binance": Pinger("binance"), "bybit": Pinger("bybit")}
    monitor = HealthMonitor(pingers, policy=HealthPolicy(window=4), monotonic=clock)
    state = InMemoryFailoverState("binance")
    assert isinstance(state, FailoverStatePort)
    ctl = FailoverController(monitor, state, FailoverPolicy(unhealthy_for_s=3, recovered_for_s=10))
    await monitor.probe_all()
    assert ctl.evaluate() is None
    pingers["binance"].up = False
    await monitor.probe_all()
    assert not monitor.health["binance"].healthy and "down" in monitor.health["binance"].reason
    clock.now += 2.9
    assert ctl.evaluate() is None  # not unhealthy long enough yet
    clock.now += 0.2
    assert ctl.evaluate() == "activate" and state.active_venue() == "bybit"
    pingers["binance"].up = True
    for _ in range(4):
        await monitor.probe_all()
    assert monitor.health["binance"].healthy
    clock.now += 9.9
    assert ctl.evaluate() is None
    clock.now += 0.2
    assert ctl.evaluate() == "deactivate" and state.active_venue() == "binance"
    assert [e[0] for e in state.events] == ["activate", "deactivate"]


async def test_no_failover_to_an_unhealthy_backup_and_no_failback_from_a_manual_failover() -> None:
    clock = FakeClock()
    pingers = {"binance": Pinger("binance"), "bybit": Pinger("bybit")}
    monitor = HealthMonitor(pingers, monotonic=clock)
    state = InMemoryFailoverState("binance")
    ctl = FailoverController(monitor, state, FailoverPolicy(unhealthy_for_s=1, recovered_for_s=1))
    pingers["binance"].up = pingers["bybit"].up = False
    await monitor.probe_all()
    clock.now += 5
    assert ctl.evaluate() is None and state.active_venue() == "binance"
    pingers["binance"].up = pingers["bybit"].up = True
    await monitor.probe_all()
    state.activate_failover("binance", "bybit", reason="operator")  # the playbook's manual failover
    clock.now += 100
    assert ctl.evaluate() is None and state.active_venue() == "bybit"


async def test_stale_data_makes_a_venue_unhealthy() -> None:
    monitor = HealthMonitor({"binance": Pinger("binance")})
    await monitor.probe_all()
    monitor.report_stale("binance", True)
    snap = monitor.snapshot()["binance"]
    assert snap["healthy"] is False and snap["reason"] == "market data stale"


@pytest.mark.slow
async def test_candles_continue_from_bybit_within_5s_without_gap_or_duplicate() -> None:
    feed = Feed("BTCUSDT", "1m", synthetic_bars(400))
    result = await run_failover_drill(feed, DrillConfig())
    times = result.open_times
    assert all(b - a == 60_000 for a, b in itertools.pairwise(times)), "gap or duplicate"
    venues = [c.venue for c in result.candles]
    switch = venues.index("bybit")
    assert set(venues[:switch]) == {"binance"} and set(venues[switch:]) == {"bybit"}
    assert result.failover_s < 5.0
    assert [e[:3] for e in result.events] == [("activate", "binance", "bybit")]
    first = times[0]
    by_time = {b.open_time: b for b in feed.bars}
    offset = first - feed.bars[41].open_time  # the drill anchors bar 50 and resumes after bar 40
    for candle in result.candles:
        bar = by_time[candle.open_time - offset]
        assert (candle.open, candle.close) == (float(bar.open), float(bar.close))
