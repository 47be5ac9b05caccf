"""Test helpers: random and real candle series, and tables rebuilt from streamed events."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smc_agent.smc.candles import Candles
from smc_agent.smc.events import (
    FVGFormed,
    FVGMerged,
    FVGMitigated,
    LiquidityFormed,
    LiquiditySwept,
    OrderBlockFormed,
    OrderBlockInvalidated,
    OrderBlockMitigated,
    PeriodLevelBroken,
    SMCEvent,
    StructureBroken,
    SwingConfirmed,
)
from smc_agent.smc.results import Table
from tests._shared import shared_file

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC (a Monday)


def random_candles(seed: int, n: int, *, tick: float = 0.0, gap_hours: int = 0) -> Candles:
    """Random-walk OHLCV. `tick` > 0 rounds prices to a grid (ties, equal highs); `gap_hours` > 0 draws
    irregular steps between candles so days / weeks / months and DST changes are crossed."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]] * (1.0 + rng.normal(0.0, 0.002, n))
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.004, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.004, n))
    if tick > 0:
        open_, high, low, close = (np.round(a / tick) * tick for a in (open_, high, low, close))
        high = np.maximum.reduce([open_, high, low, close])
        low = np.minimum.reduce([open_, high, low, close])
    steps = rng.integers(1, gap_hours + 1, n) * 3600000 if gap_hours > 0 else np.full(n, 300000)
    ts = T0 + np.cumsum(steps) - steps[0]
    volume = rng.exponential(10.0, n) * (rng.random(n) > 0.05)
    return Candles.from_arrays(open=open_, high=high, low=low, close=close, volume=volume, ts_ms=ts)


_REAL: dict[str, Candles] = {}


def real_candles(name: str) -> Candles:
    """A real candle file from the shared data (skips the test if absent)."""
    if name not in _REAL:
        path = shared_file("ohlcv", *name.split("/"))
        _REAL[name] = Candles.from_frame(pd.read_csv(path))
    return _REAL[name]


def stream_tables(events: list[SMCEvent]) -> dict[str, list[dict[str, Any]]]:
    """Rebuild the batch tables' rows from typed stream events (independent of `results`)."""
    out: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("swings", "breaks", "order_blocks", "fvgs", "liquidity", "period_breaks")
    }
    obs: dict[int, dict[str, Any]] = {}
    gaps: dict[int, dict[str, Any]] = {}
    pools: dict[int, dict[str, Any]] = {}
    for e in events:
        if isinstance(e, SwingConfirmed):
            out["swings"].append(
                {"direction": e.direction, "price": e.price, "formed_at": e.formed_at, "confirmed_at": e.bar}
            )
        elif isinstance(e, StructureBroken):
            out["breaks"].append(
                {
                    "kind": 1 if e.kind == "BOS" else 2,
                    "direction": e.direction,
                    "level": e.level,
                    "swing_at": e.swing_at,
                    "confirmed_at": e.bar,
                }
            )
        elif isinstance(e, OrderBlockFormed):
            b = e.block
            row = {
                "id": b.id,
                "direction": b.direction,
                "top": b.top,
                "bottom": b.bottom,
                "formed_at": b.formed_at,
                "confirmed_at": b.confirmed_at,
                "volume": b.volume,
                "strength": b.strength,
                "mitigated_at": -1,
                "invalidated_at": -1,
            }
            obs[b.id] = row
            out["order_blocks"].append(row)
        elif isinstance(e, OrderBlockMitigated):
            obs[e.block_id]["mitigated_at"] = e.bar
        elif isinstance(e, OrderBlockInvalidated):
            obs[e.block_id]["invalidated_at"] = e.bar
        elif isinstance(e, FVGFormed):
            g = e.gap
            row = {
                "id": g.id,
                "direction": g.direction,
                "top": g.top,
                "bottom": g.bottom,
                "formed_at": g.formed_at,
                "confirmed_at": g.confirmed_at,
                "mitigated_at": -1,
                "merged_at": -1,
            }
            gaps[g.id] = row
            out["fvgs"].append(row)
        elif isinstance(e, FVGMitigated):
            gaps[e.gap_id]["mitigated_at"] = e.bar
        elif isinstance(e, FVGMerged):
            gaps[e.gap_id]["merged_at"] = e.bar
        elif isinstance(e, LiquidityFormed):
            p = e.pool
            row = {
                "id": p.id,
                "direction": p.direction,
                "level": p.level,
                "top": p.top,
                "bottom": p.bottom,
                "first_at": p.first_at,
                "formed_at": p.formed_at,
                "confirmed_at": p.confirmed_at,
                "swept_at": -1,
                "closed_back": -1,
            }
            pools[p.id] = row
            out["liquidity"].append(row)
        elif isinstance(e, LiquiditySwept):
            pools[e.pool_id]["swept_at"] = e.bar
            pools[e.pool_id]["closed_back"] = int(e.closed_back)
        elif isinstance(e, PeriodLevelBroken):
            out["period_breaks"].append(
                {
                    "period": ("D", "W", "M").index(e.period),
                    "direction": e.direction,
                    "level": e.level,
                    "confirmed_at": e.bar,
                }
            )
    return out


LIFECYCLE = ("mitigated_at", "invalidated_at", "merged_at", "swept_at")


def as_known_at(table: Table, t: int) -> list[dict[str, Any]]:
    """Rows confirmed by bar t, lifecycle fields as known at t (later happenings read as -1)."""
    rows = []
    for row in table.rows():
        if row["confirmed_at"] > t:
            continue
        for key in LIFECYCLE:
            if key in row and row[key] > t:
                row[key] = -1
                if key == "swept_at":
                    row["closed_back"] = -1
        rows.append(row)
    return rows
