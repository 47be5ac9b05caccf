"""Compiled fair value gaps: three-candle detection, size filter, join, mitigation."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import math

from .jit import jit
from .layout import (
    C_FVG_JOIN,
    C_FVG_MIN_ATR,
    C_FVG_MODE,
    F_ATR,
    F_FVG_BEAR_TRIG,
    F_FVG_BULL_TRIG,
    FVG_BOTTOM,
    FVG_CONFIRMED,
    FVG_DIR,
    FVG_FORMED,
    FVG_ID,
    FVG_LEVEL,
    FVG_TOP,
    I_N_FVG,
    I_NEXT_FVG,
    K_FVG_MERGED,
    K_FVG_MITIGATED,
    K_FVG_NEW,
    R_HIGH,
    R_LOW,
)
from .tables import F64, I64, append_row, copy_row, emit


@jit
def mitigation_level(mode: int, direction: float, top: float, bottom: float) -> float:
    """Touch: the near edge; half: the midpoint; full: the far edge."""
    if mode == 0:
        return top if direction > 0 else bottom
    if mode == 1:
        return (top + bottom) / 2.0
    return bottom if direction > 0 else top


@jit
def update_fvgs(fs: F64, is_: I64, fvgs: F64, ev: F64, n: int, bar: int, h: float, lo: float) -> int:
    """Mitigate gaps confirmed before this bar (bullish: low <= level, bearish: high >= level)."""
    if lo > fs[F_FVG_BULL_TRIG] and h < fs[F_FVG_BEAR_TRIG]:
        return n
    bull_trig = -math.inf
    bear_trig = math.inf
    count = int(is_[I_N_FVG])
    w = 0
    for r in range(count):
        direction = fvgs[r, FVG_DIR]
        level = fvgs[r, FVG_LEVEL]
        if (direction > 0 and lo <= level) or (direction < 0 and h >= level):
            n = emit(
                ev,
                n,
                K_FVG_MITIGATED,
                bar,
                fvgs[r, FVG_ID],
                direction,
                fvgs[r, FVG_TOP],
                fvgs[r, FVG_BOTTOM],
                fvgs[r, FVG_FORMED],
                0.0,
                0.0,
                0.0,
            )
            continue
        if direction > 0:
            bull_trig = max(bull_trig, level)
        else:
            bear_trig = min(bear_trig, level)
        if w != r:
            copy_row(fvgs, w, r)
        w += 1
    is_[I_N_FVG] = w
    fs[F_FVG_BULL_TRIG] = bull_trig
    fs[F_FVG_BEAR_TRIG] = bear_trig
    return n


@jit
def detect_fvg(
    cfg: F64, fs: F64, is_: I64, ring: F64, fvgs: F64, ev: F64, n: int, bar: int, h: float, lo: float
) -> int:
    """Gap between candle bar-2 and candle bar (the middle candle bar-1 is where it formed)."""
    if bar < 2:
        return n
    size = ring.shape[1]
    h2 = ring[R_HIGH, (bar - 2) % size]
    l2 = ring[R_LOW, (bar - 2) % size]
    if lo > h2:
        direction = 1
        top = lo
        bottom = h2
    elif h < l2:
        direction = -1
        top = l2
        bottom = h
    else:
        return n
    if top - bottom < cfg[C_FVG_MIN_ATR] * fs[F_ATR]:
        return n
    formed = bar - 1
    count = int(is_[I_N_FVG])
    oid = is_[I_NEXT_FVG]
    is_[I_NEXT_FVG] = oid + 1
    if cfg[C_FVG_JOIN] > 0.5 and count > 0:
        last = count - 1
        if fvgs[last, FVG_CONFIRMED] == bar - 1 and fvgs[last, FVG_DIR] == direction:
            n = emit(
                ev,
                n,
                K_FVG_MERGED,
                bar,
                fvgs[last, FVG_ID],
                direction,
                fvgs[last, FVG_TOP],
                fvgs[last, FVG_BOTTOM],
                fvgs[last, FVG_FORMED],
                oid,
                0.0,
                0.0,
            )
            top = max(top, fvgs[last, FVG_TOP])
            bottom = min(bottom, fvgs[last, FVG_BOTTOM])
            formed = int(fvgs[last, FVG_FORMED])
            count = last
    r = append_row(fvgs, count)
    fvgs[r, FVG_ID] = oid
    fvgs[r, FVG_DIR] = direction
    fvgs[r, FVG_TOP] = top
    fvgs[r, FVG_BOTTOM] = bottom
    fvgs[r, FVG_FORMED] = formed
    fvgs[r, FVG_CONFIRMED] = bar
    level = mitigation_level(int(cfg[C_FVG_MODE]), direction, top, bottom)
    fvgs[r, FVG_LEVEL] = level
    if direction > 0:
        fs[F_FVG_BULL_TRIG] = max(fs[F_FVG_BULL_TRIG], level)
    else:
        fs[F_FVG_BEAR_TRIG] = min(fs[F_FVG_BEAR_TRIG], level)
    is_[I_N_FVG] = r + 1
    return emit(ev, n, K_FVG_NEW, bar, oid, direction, top, bottom, formed, 0.0, 0.0, 0.0)
