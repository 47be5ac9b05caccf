"""Market-data failover time over N drills: Binance simulator killed -> candles from Bybit.

Run: ``uv run python bench/failover_time.py [--runs 20]``. Each drill streams candles from a Binance
simulator, kills it, and measures the time until the consumer receives the first candle from the
Bybit simulator, checking every run for gaps and duplicates. The floor set by the policy is
``unhealthy_for_s`` (1.0 s): the printed ratio is measured time / that floor.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from smc_agent.marketdata.drill import DrillConfig, run_failover_drill
from smc_agent.venues.simulator.feed import TIMEFRAME_MS, Bar, Feed


def synthetic_feed(n: int = 400) -> Feed:
    from decimal import Decimal

    bars, price = [], Decimal(40_000)
    for i in range(n):
        close = price + Decimal((i * 37) % 21 - 10)
        bars.append(
            Bar(
                i * TIMEFRAME_MS["1m"], price, max(price, close) + 5, min(price, close) - 5, close, Decimal(1)
            )
        )
        price = close
    return Feed("BTCUSDT", "1m", bars)


async def main(runs: int) -> None:
    cfg = DrillConfig()
    times = []
    for i in range(runs):
        result = await run_failover_drill(synthetic_feed(), cfg)
        t = result.open_times
        if not all(b - a == 60_000 for a, b in itertools.pairwise(t)):
            raise SystemExit(f"run {i}: gap or duplicate in {t}")
        times.append(result.failover_s)
        print(f"run {i + 1:2d}: failover {result.failover_s:.3f} s, {len(t)} candles, no gap, no duplicate")
    median, worst = statistics.median(times), max(times)
    print(
        f"\nfailover time over {runs} runs: median {median:.3f} s, max {worst:.3f} s, min {min(times):.3f} s"
    )
    print(
        f"policy floor unhealthy_for_s={cfg.unhealthy_for_s} s -> median/floor ratio {median / cfg.unhealthy_for_s:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))
