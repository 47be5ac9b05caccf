"""Translate kernel event records and object tables into the typed objects of `events`."""

from __future__ import annotations

from typing import cast

from .events import (
    PERIODS,
    Direction,
    FairValueGap,
    FVGFormed,
    FVGMerged,
    FVGMitigated,
    LiquidityFormed,
    LiquidityPool,
    LiquiditySwept,
    OrderBlock,
    OrderBlockFormed,
    OrderBlockInvalidated,
    OrderBlockMitigated,
    PeriodLevelBroken,
    SMCEvent,
    StructureBroken,
    SwingConfirmed,
)
from .kernel.layout import (
    EV_A,
    EV_B,
    EV_BAR,
    EV_DIR,
    EV_FORMED,
    EV_ID,
    EV_KIND,
    EV_X1,
    EV_X2,
    EV_X3,
    FVG_BOTTOM,
    FVG_CONFIRMED,
    FVG_DIR,
    FVG_FORMED,
    FVG_ID,
    FVG_TOP,
    K_BOS,
    K_CHOCH,
    K_FVG_MERGED,
    K_FVG_MITIGATED,
    K_FVG_NEW,
    K_LIQ_NEW,
    K_LIQ_SWEPT,
    K_OB_INVALIDATED,
    K_OB_MITIGATED,
    K_OB_NEW,
    K_PERIOD_BROKEN,
    K_SWING,
    OB_BOTTOM,
    OB_CONFIRMED,
    OB_DIR,
    OB_FORMED,
    OB_ID,
    OB_MITIGATED,
    OB_STRENGTH,
    OB_TOP,
    OB_VOLUME,
    POOL_BOTTOM,
    POOL_CONFIRMED,
    POOL_DIR,
    POOL_FIRST,
    POOL_FORMED,
    POOL_ID,
    POOL_LEVEL,
    POOL_TOP,
)
from .kernel.tables import F64


def _dir(value: float) -> Direction:
    return 1 if value > 0 else -1


def decode_event(row: list[float], ts_ms: int) -> SMCEvent:
    """One kernel event record (as a Python list) -> typed event."""
    kind = int(row[EV_KIND])
    bar = int(row[EV_BAR])
    d = _dir(row[EV_DIR])
    if kind == K_SWING:
        return SwingConfirmed(bar, ts_ms, d, row[EV_A], int(row[EV_FORMED]))
    if kind in (K_BOS, K_CHOCH):
        return StructureBroken(
            bar, ts_ms, "BOS" if kind == K_BOS else "CHOCH", d, row[EV_A], int(row[EV_FORMED])
        )
    if kind == K_OB_NEW:
        block = OrderBlock(
            int(row[EV_ID]), d, row[EV_A], row[EV_B], int(row[EV_FORMED]), bar, row[EV_X1], row[EV_X2]
        )
        return OrderBlockFormed(bar, ts_ms, block)
    if kind == K_OB_MITIGATED:
        return OrderBlockMitigated(bar, ts_ms, int(row[EV_ID]), d)
    if kind == K_OB_INVALIDATED:
        return OrderBlockInvalidated(bar, ts_ms, int(row[EV_ID]), d)
    if kind == K_FVG_NEW:
        gap = FairValueGap(int(row[EV_ID]), d, row[EV_A], row[EV_B], int(row[EV_FORMED]), bar)
        return FVGFormed(bar, ts_ms, gap)
    if kind == K_FVG_MITIGATED:
        return FVGMitigated(bar, ts_ms, int(row[EV_ID]), d)
    if kind == K_FVG_MERGED:
        return FVGMerged(bar, ts_ms, int(row[EV_ID]), int(row[EV_X1]), d)
    if kind == K_LIQ_NEW:
        pool = LiquidityPool(
            int(row[EV_ID]), d, row[EV_A], row[EV_X2], row[EV_X3], int(row[EV_X1]), int(row[EV_FORMED]), bar
        )
        return LiquidityFormed(bar, ts_ms, pool)
    if kind == K_LIQ_SWEPT:
        return LiquiditySwept(bar, ts_ms, int(row[EV_ID]), d, row[EV_A], row[EV_X1] > 0.5)
    if kind == K_PERIOD_BROKEN:
        return PeriodLevelBroken(bar, ts_ms, PERIODS[int(row[EV_X1])], d, row[EV_A])
    raise ValueError(f"unknown kernel event kind {kind}")


def order_blocks_from_table(obs: F64, count: int) -> list[OrderBlock]:
    rows = cast(list[list[float]], obs[:count].tolist())
    return [
        OrderBlock(
            int(r[OB_ID]),
            _dir(r[OB_DIR]),
            r[OB_TOP],
            r[OB_BOTTOM],
            int(r[OB_FORMED]),
            int(r[OB_CONFIRMED]),
            r[OB_VOLUME],
            r[OB_STRENGTH],
            int(r[OB_MITIGATED]) if r[OB_MITIGATED] >= 0 else None,
        )
        for r in rows
    ]


def fvgs_from_table(fvgs: F64, count: int) -> list[FairValueGap]:
    rows = cast(list[list[float]], fvgs[:count].tolist())
    return [
        FairValueGap(
            int(r[FVG_ID]),
            _dir(r[FVG_DIR]),
            r[FVG_TOP],
            r[FVG_BOTTOM],
            int(r[FVG_FORMED]),
            int(r[FVG_CONFIRMED]),
        )
        for r in rows
    ]


def pools_from_table(pools: F64, count: int) -> list[LiquidityPool]:
    rows = cast(list[list[float]], pools[:count].tolist())
    return [
        LiquidityPool(
            int(r[POOL_ID]),
            _dir(r[POOL_DIR]),
            r[POOL_LEVEL],
            r[POOL_TOP],
            r[POOL_BOTTOM],
            int(r[POOL_FIRST]),
            int(r[POOL_FORMED]),
            int(r[POOL_CONFIRMED]),
        )
        for r in rows
    ]
