"""Candles for the demo: real public market data through ccxt when the network allows (cached on
disk), otherwise a built-in synthetic market, so the demo always works offline.

The synthetic market is a seeded random walk with trending and ranging regimes and volatility
clusters: it produces the swings, breaks of structure, order blocks and fair-value gaps the SMC
strategy trades on. It is clearly labelled synthetic wherever it is shown.
"""

from __future__ import annotations

import asyncio
import csv
import math
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from smc_agent.logs import get_logger
from smc_agent.venues.simulator.feed import Bar, load_bars

log = get_logger("smc_agent.live.market_source")


def synthetic_bars(
    n: int, *, tf_ms: int = 60_000, seed: int = 42, price: float = 42_000.0, start_ms: int = 1_704_067_200_000
) -> list[Bar]:
    rng = random.Random(seed)
    bars: list[Bar] = []
    drift, vol, regime_left = 0.0, 0.0015, 0
    for i in range(n):
        if regime_left <= 0:
            drift = rng.choice([-1, 0, 1]) * rng.uniform(0.0002, 0.0008)
            regime_left = rng.randint(30, 120)
        regime_left -= 1
        vol = min(0.006, max(0.0006, vol * math.exp(rng.gauss(0, 0.15))))
        o = price
        c = o * math.exp(drift + rng.gauss(0, vol))
        h = max(o, c) * (1 + abs(rng.gauss(0, vol / 2)))
        low = min(o, c) * (1 - abs(rng.gauss(0, vol / 2)))
        bars.append(Bar(start_ms + i * tf_ms, _d(o), _d(h), _d(low), _d(c), _d(rng.uniform(5, 80))))
        price = c
    return bars


def _d(x: float) -> Decimal:
    return Decimal(f"{x:.2f}")


def write_csv(path: Path, bars: list[Bar]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["timestamp_ms", "datetime_utc", "open", "high", "low", "close", "volume"])
        for b in bars:
            iso = datetime.fromtimestamp(b.open_time / 1000, tz=UTC).isoformat()
            out.writerow([b.open_time, iso, b.open, b.high, b.low, b.close, b.volume])


async def download_bars(symbol: str, timeframe: str, n: int, timeout_s: float = 8.0) -> list[Bar]:
    """Recent public candles from Binance through ccxt (no keys). Raises on any network problem."""
    import ccxt.async_support as ccxt_async

    exchange = ccxt_async.binance({"enableRateLimit": True, "timeout": int(timeout_s * 1000)})
    try:
        rows = await asyncio.wait_for(exchange.fetch_ohlcv(symbol, timeframe, limit=min(n, 1000)), timeout_s)
    finally:
        await exchange.close()
    return [Bar(int(r[0]), _d(r[1]), _d(r[2]), _d(r[3]), _d(r[4]), Decimal(str(r[5]))) for r in rows]


async def demo_bars(cache_dir: Path, *, offline: bool, n: int = 1_000) -> tuple[list[Bar], str]:
    """(bars, source description). Cached real data first, then a download, then synthetic."""
    cache = cache_dir / "demo_binance_BTCUSDT_1m.csv"
    if cache.is_file():
        bars = load_bars(cache)
        if len(bars) >= 400:
            return bars, f"Binance BTC/USDT 1m (cached {cache})"
    if not offline:
        try:
            bars = await download_bars("BTC/USDT", "1m", n)
            if len(bars) >= 400:
                write_csv(cache, bars)
                return bars, "Binance BTC/USDT 1m (downloaded through ccxt, now cached)"
        except Exception as exc:
            log.info("no public market data (offline?); using the synthetic market", error=str(exc)[:200])
    return synthetic_bars(n * 3), "synthetic market (built-in generator, offline)"
