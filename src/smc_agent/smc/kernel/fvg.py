"""Compiled fair value gaps: three-candle detection, size filter, join, mitigation."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

from .jit import jit
from .layout import (
    C_FVG_JOIN,
    C_FVG_MIN_ATR,
    C_FVG_MODE,
    F_ATR,
    FVG_BOTTOM,
    FVG_CONFIRMED,
    FVG_DIR,
    FVG_FORMED,
    FVG_ID,
    FVG_TOP,
    I_N_FVG,
    I_NEXT_FVG,
    K_FVG_MERGED,
    K_FVG_MITIGATED,
    K_FVG_NEW,
    R_HIGH,
    R_LOW,
)
from .tables import F64, I64, append_row, emit


@jit
def update_fvgs(cfg: F64, is_: I64, fvgs: F64, ev: F64, n: int, bar: int, h: float, lo: float) -> int:
    """Mitigate gaps confirmed before this bar: touch (near edge), half (midpoint) or full (far edge)."""
    mode = int(cfg[C_FVG_MODE])
    count = int(is_[I_N_FVG])
    w = 0
    for r in range(count):
        direction = fvgs[r, FVG_DIR]
        top = fvgs[r, FVG_TOP]
        bottom = fvgs[r, FVG_BOTTOM]
        if mode == 0:
            level = top if direction > 0 else bottom
        elif mode == 1:
            level = (top + bottom) / 2.0
        else:
            level = bottom if direction > 0 else top
        if (direction > 0 and lo <= level) or (direction < 0 and h >= level):
            n = emit(
                ev,
                n,
                K_FVG_MITIGATED,
                bar,
                fvgs[r, FVG_ID],
                direction,
                top,
                bottom,
                fvgs[r, FVG_FORMED],
                0.0,
                0.0,
                0.0,
            )
            continue
        if w != r:
            fvgs[w, :] = fvgs[r, :]
        w += 1
    is_[I_N_FVG] = w
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
    is_[I_N_FVG] = r + 1
    return emit(ev, n, K_FVG_NEW, bar, oid, direction, top, bottom, formed, 0.0, 0.0, 0.0)
