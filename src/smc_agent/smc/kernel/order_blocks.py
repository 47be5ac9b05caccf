"""Compiled order blocks: creation at a structure break, mitigation (first touch), invalidation."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import math

from .jit import jit
from .layout import (
    C_OB_INVALID_WICK,
    F_OB_BEAR_TRIG,
    F_OB_BULL_TRIG,
    I_N_OB,
    I_NEXT_OB,
    K_OB_INVALIDATED,
    K_OB_MITIGATED,
    K_OB_NEW,
    OB_BOTTOM,
    OB_CONFIRMED,
    OB_DIR,
    OB_FORMED,
    OB_ID,
    OB_MITIGATED,
    OB_STRENGTH,
    OB_TOP,
    OB_VOLUME,
    R_VOL,
)
from .tables import F64, I64, append_row, copy_row, emit


@jit
def create_order_block(
    cfg: F64,
    fs: F64,
    is_: I64,
    ring: F64,
    obs: F64,
    ev: F64,
    n: int,
    bar: int,
    direction: int,
    ob_bar: int,
    top: float,
    bottom: float,
) -> int:
    """Register a new order block confirmed at `bar` (the breaking candle)."""
    size = ring.shape[1]
    v0 = ring[R_VOL, bar % size]
    v1 = ring[R_VOL, (bar - 1) % size] if bar >= 1 else 0.0
    v2 = ring[R_VOL, (bar - 2) % size] if bar >= 2 else 0.0
    volume = v0 + v1 + v2
    recent = v0 + v1
    hi_v = max(recent, v2)
    strength = min(recent, v2) / hi_v * 100.0 if hi_v != 0.0 else 100.0
    oid = is_[I_NEXT_OB]
    is_[I_NEXT_OB] = oid + 1
    count = int(is_[I_N_OB])
    r = append_row(obs, count)
    obs[r, OB_ID] = oid
    obs[r, OB_DIR] = direction
    obs[r, OB_TOP] = top
    obs[r, OB_BOTTOM] = bottom
    obs[r, OB_FORMED] = ob_bar
    obs[r, OB_CONFIRMED] = bar
    obs[r, OB_MITIGATED] = -1.0
    obs[r, OB_VOLUME] = volume
    obs[r, OB_STRENGTH] = strength
    is_[I_N_OB] = r + 1
    if direction > 0:
        fs[F_OB_BULL_TRIG] = max(fs[F_OB_BULL_TRIG], top)
    else:
        fs[F_OB_BEAR_TRIG] = min(fs[F_OB_BEAR_TRIG], bottom)
    return emit(ev, n, K_OB_NEW, bar, oid, direction, top, bottom, ob_bar, volume, strength, 0.0)


@jit
def update_order_blocks(
    cfg: F64, fs: F64, is_: I64, obs: F64, ev: F64, n: int, bar: int, h: float, lo: float, c: float
) -> int:
    """Mitigate (first touch of the zone) and invalidate (close / wick beyond the far edge) blocks."""
    if lo > fs[F_OB_BULL_TRIG] and h < fs[F_OB_BEAR_TRIG]:
        return n  # no block can change on this bar
    wick = cfg[C_OB_INVALID_WICK] > 0.5
    bull_trig = -math.inf
    bear_trig = math.inf
    count = int(is_[I_N_OB])
    w = 0
    for r in range(count):
        direction = obs[r, OB_DIR]
        top = obs[r, OB_TOP]
        bottom = obs[r, OB_BOTTOM]
        oid = obs[r, OB_ID]
        if obs[r, OB_MITIGATED] < 0.0 and ((direction > 0 and lo <= top) or (direction < 0 and h >= bottom)):
            obs[r, OB_MITIGATED] = bar
            n = emit(
                ev, n, K_OB_MITIGATED, bar, oid, direction, top, bottom, obs[r, OB_FORMED], 0.0, 0.0, 0.0
            )
        broken = (lo if wick else c) < bottom if direction > 0 else (h if wick else c) > top
        if broken:
            n = emit(
                ev, n, K_OB_INVALIDATED, bar, oid, direction, top, bottom, obs[r, OB_FORMED], 0.0, 0.0, 0.0
            )
            continue
        if direction > 0:
            bull_trig = max(bull_trig, top if obs[r, OB_MITIGATED] < 0.0 else bottom)
        else:
            bear_trig = min(bear_trig, bottom if obs[r, OB_MITIGATED] < 0.0 else top)
        if w != r:
            copy_row(obs, w, r)
        w += 1
    is_[I_N_OB] = w
    fs[F_OB_BULL_TRIG] = bull_trig
    fs[F_OB_BEAR_TRIG] = bear_trig
    return n
