"""Compiled liquidity: equal highs / lows pools (ATR tolerance at confirmation) and their sweeps."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

from .jit import jit
from .layout import (
    C_LIQ_TOL_ATR,
    CAND_BAR,
    CAND_DIR,
    CAND_LEVEL,
    CAND_TOL,
    F_ATR,
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
from .tables import F64, I64, append_row, emit


@jit
def update_liquidity(
    is_: I64, cands: F64, pools: F64, ev: F64, n: int, bar: int, h: float, lo: float, c: float
) -> int:
    """Sweep pools whose outer edge is traded through; retire candidates exceeded beyond tolerance."""
    count = int(is_[I_N_POOL])
    w = 0
    for r in range(count):
        direction = pools[r, POOL_DIR]
        top = pools[r, POOL_TOP]
        bottom = pools[r, POOL_BOTTOM]
        if direction > 0 and h > top:
            back = 1.0 if c <= top else 0.0
        elif direction < 0 and lo < bottom:
            back = 1.0 if c >= bottom else 0.0
        else:
            if w != r:
                pools[w, :] = pools[r, :]
            w += 1
            continue
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
    is_[I_N_POOL] = w
    count = int(is_[I_N_CAND])
    w = 0
    for r in range(count):
        direction = cands[r, CAND_DIR]
        level = cands[r, CAND_LEVEL]
        tol = cands[r, CAND_TOL]
        if (direction > 0 and h > level + tol) or (direction < 0 and lo < level - tol):
            continue
        if w != r:
            cands[w, :] = cands[r, :]
        w += 1
    is_[I_N_CAND] = w
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
    """Pair a new swing with the most recent same-side candidate within its tolerance, else keep it."""
    count = int(is_[I_N_CAND])
    for r in range(count - 1, -1, -1):
        if cands[r, CAND_DIR] == direction and abs(level - cands[r, CAND_LEVEL]) <= cands[r, CAND_TOL]:
            other = cands[r, CAND_LEVEL]
            first = cands[r, CAND_BAR]
            for k in range(r + 1, count):
                cands[k - 1, :] = cands[k, :]
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
            return emit(ev, n, K_LIQ_NEW, bar, oid, direction, mean, other, pivot, first, top, bottom)
    r = append_row(cands, count)
    cands[r, CAND_DIR] = direction
    cands[r, CAND_LEVEL] = level
    cands[r, CAND_TOL] = cfg[C_LIQ_TOL_ATR] * fs[F_ATR]
    cands[r, CAND_BAR] = pivot
    is_[I_N_CAND] = r + 1
    return n
