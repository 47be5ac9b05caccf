"""A deterministic synthetic candle series with trends and pullbacks (swings, breaks, gaps)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from smc_agent.store.models import Candle


def synthetic_candles(
    n: int = 300, *, seed: int = 7, start_price: float = 60000.0
) -> list[tuple[datetime, float, float, float, float, float]]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    price, drift, left = start_price, 0.0, 0
    rows = []
    for i in range(n):
        if left == 0:
            drift, left = rng.choice((-1, 1)) * rng.uniform(0.001, 0.004), rng.randint(8, 25)
        left -= 1
        open_ = price
        close = open_ * (1 + drift + rng.gauss(0, 0.004))
        high = max(open_, close) * (1 + abs(rng.gauss(0, 0.002)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, 0.002)))
        rows.append((start + timedelta(hours=i), open_, high, low, close, rng.uniform(50, 150)))
        price = close
    return rows


def store_candles(
    session: Session,
    *,
    exchange: str = "binance",
    symbol: str = "BTC/USDT",
    timeframe: str = "1h",
    n: int = 300,
) -> int:
    rows = synthetic_candles(n)
    for t, o, h, lo, c, v in rows:
        session.add(
            Candle(
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                open_time=t,
                open=Decimal(f"{o:.2f}"),
                high=Decimal(f"{h:.2f}"),
                low=Decimal(f"{lo:.2f}"),
                close=Decimal(f"{c:.2f}"),
                volume=Decimal(f"{v:.4f}"),
                source="synthetic",
            )
        )
    return len(rows)
