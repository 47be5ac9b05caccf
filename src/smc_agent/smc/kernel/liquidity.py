"""Compiled liquidity: equal highs / lows pools (ATR tolerance at confirmation) and their sweeps."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import math

from .jit import jit
from .layout import (
    C_LIQ_TOL_ATR,
    CAND_BAR,
    CAND_DIR,
    CAND_LEVEL,
    CAND_TOL,
    F_ATR,
    F_CAND_BEAR_CEIL,
    F_CAND_BEAR_TRIG,
    F_CAND_BULL_FLOOR,
    F_CAND_BULL_TRIG,
    F_POOL_BEAR_TRIG,
    F_POOL_BULL_TRIG,
    I_N_CAND,
    I_N_POOL,
    I_NEXT_LIQ,
    K_LIQ_NEW,
    K_LIQ_SWEPT,
    POOL_BOTTOM,
    POOL_CONFIRMED,
    POOL_DIR,
    POOL_FIRST,
    POOL_FORMED,
    POOL_ID,
    POOL_LEVEL,
    POOL_TOP,
)
from .tables import F64, I64, append_row, copy_row, emit


@jit
def _slack(level: float, tol: float) -> float:
    """Widening of a pairing bound so that rounding can never exclude a pair `abs(a - b) <= tol` admits."""
    return (abs(level) + tol) * 1e-9


@jit
def liquidity_due(fs: F64, h: float, lo: float) -> bool:
    """Can the bar (h, lo) sweep a pool or retire a candidate? (`update_liquidity` does nothing otherwise.)"""
    return bool(
        h > fs[F_POOL_BULL_TRIG]
        or lo < fs[F_POOL_BEAR_TRIG]
        or h > fs[F_CAND_BULL_TRIG]
        or lo < fs[F_CAND_BEAR_TRIG]
    )


@jit
def update_liquidity(
    fs: F64, is_: I64, cands: F64, pools: F64, ev: F64, n: int, bar: int, h: float, lo: float, c: float
) -> int:
    """Sweep pools whose outer edge is traded through; retire candidates exceeded beyond tolerance."""
    if h > fs[F_POOL_BULL_TRIG] or lo < fs[F_POOL_BEAR_TRIG]:
        bull_trig = math.inf
        bear_trig = -math.inf
        count = int(is_[I_N_POOL])
        w = 0
        for r in range(count):
            direction = pools[r, POOL_DIR]
            top = pools[r, POOL_TOP]
            bottom = pools[r, POOL_BOTTOM]
            if (direction > 0 and h > top) or (direction < 0 and lo < bottom):
                back = 1.0 if (c <= top if direction > 0 else c >= bottom) else 0.0
                n = emit(
                    ev,
                    n,
                    K_LIQ_SWEPT,
                    bar,
                    pools[r, POOL_ID],
                    direction,
                    pools[r, POOL_LEVEL],
                    0.0,
                    pools[r, POOL_FORMED],
                    back,
                    top,
                    bottom,
                )
                continue
            if direction > 0:
                bull_trig = min(bull_trig, top)
            else:
                bear_trig = max(bear_trig, bottom)
            if w != r:
                copy_row(pools, w, r)
            w += 1
        is_[I_N_POOL] = w
        fs[F_POOL_BULL_TRIG] = bull_trig
        fs[F_POOL_BEAR_TRIG] = bear_trig
    if h > fs[F_CAND_BULL_TRIG] or lo < fs[F_CAND_BEAR_TRIG]:
        bull_trig = math.inf
        bear_trig = -math.inf
        bull_floor = math.inf
        bear_ceil = -math.inf
        count = int(is_[I_N_CAND])
        w = 0
        for r in range(count):
            direction = cands[r, CAND_DIR]
            up = cands[r, CAND_LEVEL] + cands[r, CAND_TOL]
            down = cands[r, CAND_LEVEL] - cands[r, CAND_TOL]
            if (direction > 0 and h > up) or (direction < 0 and lo < down):
                continue
            if direction > 0:
                bull_trig = min(bull_trig, up)
                bull_floor = min(bull_floor, down - _slack(cands[r, CAND_LEVEL], cands[r, CAND_TOL]))
            else:
                bear_trig = max(bear_trig, down)
                bear_ceil = max(bear_ceil, up + _slack(cands[r, CAND_LEVEL], cands[r, CAND_TOL]))
            if w != r:
                copy_row(cands, w, r)
            w += 1
        is_[I_N_CAND] = w
        fs[F_CAND_BULL_TRIG] = bull_trig
        fs[F_CAND_BEAR_TRIG] = bear_trig
        fs[F_CAND_BULL_FLOOR] = bull_floor
        fs[F_CAND_BEAR_CEIL] = bear_ceil
    return n


@jit
def add_swing(
    cfg: F64,
    fs: F64,
    is_: I64,
    cands: F64,
    pools: F64,
    ev: F64,
    n: int,
    bar: int,
    pivot: int,
    direction: int,
    level: float,
) -> int:
    """Pair a new swing with the most recent same-side candidate within its tolerance, else keep it.

    The candidates are searched only if the level is within the bound of every same-side candidate's
    tolerance band (`F_CAND_BULL_FLOOR` / `F_CAND_BEAR_CEIL`); the bounds stay valid when candidates
    leave the table and are recomputed exactly by the retirement scan.
    """
    count = int(is_[I_N_CAND])
    reachable = level >= fs[F_CAND_BULL_FLOOR] if direction > 0 else level <= fs[F_CAND_BEAR_CEIL]
    for r in range(count - 1 if reachable else -1, -1, -1):
        if cands[r, CAND_DIR] == direction and abs(level - cands[r, CAND_LEVEL]) <= cands[r, CAND_TOL]:
            other = cands[r, CAND_LEVEL]
            first = cands[r, CAND_BAR]
            for k in range(r + 1, count):
                copy_row(cands, k - 1, k)
            is_[I_N_CAND] = count - 1
            oid = is_[I_NEXT_LIQ]
            is_[I_NEXT_LIQ] = oid + 1
            mean = (level + other) / 2.0
            top = max(level, other)
            bottom = min(level, other)
            p = append_row(pools, int(is_[I_N_POOL]))
            pools[p, POOL_ID] = oid
            pools[p, POOL_DIR] = direction
            pools[p, POOL_LEVEL] = mean
            pools[p, POOL_TOP] = top
            pools[p, POOL_BOTTOM] = bottom
            pools[p, POOL_FIRST] = first
            pools[p, POOL_FORMED] = pivot
            pools[p, POOL_CONFIRMED] = bar
            is_[I_N_POOL] = p + 1
            if direction > 0:
                fs[F_POOL_BULL_TRIG] = min(fs[F_POOL_BULL_TRIG], top)
            else:
                fs[F_POOL_BEAR_TRIG] = max(fs[F_POOL_BEAR_TRIG], bottom)
            return emit(ev, n, K_LIQ_NEW, bar, oid, direction, mean, other, pivot, first, top, bottom)
    r = append_row(cands, count)
    cands[r, CAND_DIR] = direction
    cands[r, CAND_LEVEL] = level
    tol = cfg[C_LIQ_TOL_ATR] * fs[F_ATR]
    cands[r, CAND_TOL] = tol
    if direction > 0:
        fs[F_CAND_BULL_TRIG] = min(fs[F_CAND_BULL_TRIG], level + tol)
        fs[F_CAND_BULL_FLOOR] = min(fs[F_CAND_BULL_FLOOR], level - tol - _slack(level, tol))
    else:
        fs[F_CAND_BEAR_TRIG] = max(fs[F_CAND_BEAR_TRIG], level - tol)
        fs[F_CAND_BEAR_CEIL] = max(fs[F_CAND_BEAR_CEIL], level + tol + _slack(level, tol))
    cands[r, CAND_BAR] = pivot
    is_[I_N_CAND] = r + 1
    return n
