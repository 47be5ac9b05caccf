"""Synthetic candle feeds and simulator configs shared by the venue and market data tests."""

from __future__ import annotations

import random
from decimal import Decimal

from smc_agent.venues.simulator import SimulatorConfig
from smc_agent.venues.simulator.feed import Bar, Feed

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def synthetic_bars(n: int = 800, tf_ms: int = 60_000, seed: int = 7, price: float = 40_000.0) -> list[Bar]:
    """A deterministic random walk of valid candles (no shared data needed)."""
    rng = random.Random(seed)
    bars = []
    for i in range(n):
        o = price
        c = round(o * (1 + rng.uniform(-0.004, 0.004)), 2)
        h = round(max(o, c) * (1 + rng.uniform(0, 0.002)), 2)
        low = round(min(o, c) * (1 - rng.uniform(0, 0.002)), 2)
        bars.append(
            Bar(
                START_MS + i * tf_ms,
                Decimal(str(o)),
                Decimal(str(h)),
                Decimal(str(low)),
                Decimal(str(c)),
                Decimal(str(round(rng.uniform(1, 50), 4))),
            )
        )
        price = c
    return bars


def sim_config(venue: str, n: int = 800, start_index: int = 500, **overrides: object) -> SimulatorConfig:
    feed = Feed("BTCUSDT", "1m", synthetic_bars(n))
    return SimulatorConfig(venue=venue, feeds=(feed,), start_index=start_index, **overrides)  # type: ignore[arg-type]
