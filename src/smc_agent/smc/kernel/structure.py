"""Compiled market structure: pending swing levels, BOS / CHoCH breaks with an explicit trend state."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import math

from .jit import jit
from .layout import (
    C_EN_OB,
    C_STRUCT_WICK,
    F_HI_LEVEL,
    F_LO_LEVEL,
    F_MAX_CANDLE_LOW,
    F_MAX_SINCE_LO,
    F_MIN_CANDLE_HIGH,
    F_MIN_SINCE_HI,
    I_HI_BAR,
    I_LO_BAR,
    I_MAX_BAR,
    I_MIN_BAR,
    I_TREND,
    K_BOS,
    K_CHOCH,
    R_HIGH,
    R_LOW,
)
from .order_blocks import create_order_block
from .tables import F64, I64, emit


@jit
def register_swing(fs: F64, is_: I64, ring: F64, bar: int, pivot: int, is_high: bool, level: float) -> None:
    """A confirmed swing becomes the pending structure level of its side (replacing the previous one).

    The extreme candle between the pivot and the current bar is tracked for the order block.
    """
    size = ring.shape[1]
    if is_high:
        fs[F_HI_LEVEL] = level
        is_[I_HI_BAR] = pivot
        fs[F_MIN_SINCE_HI] = math.inf
        is_[I_MIN_BAR] = -1
        for j in range(pivot + 1, bar):
            if ring[R_LOW, j % size] <= fs[F_MIN_SINCE_HI]:
                fs[F_MIN_SINCE_HI] = ring[R_LOW, j % size]
                fs[F_MIN_CANDLE_HIGH] = ring[R_HIGH, j % size]
                is_[I_MIN_BAR] = j
    else:
        fs[F_LO_LEVEL] = level
        is_[I_LO_BAR] = pivot
        fs[F_MAX_SINCE_LO] = -math.inf
        is_[I_MAX_BAR] = -1
        for j in range(pivot + 1, bar):
            if ring[R_HIGH, j % size] >= fs[F_MAX_SINCE_LO]:
                fs[F_MAX_SINCE_LO] = ring[R_HIGH, j % size]
                fs[F_MAX_CANDLE_LOW] = ring[R_LOW, j % size]
                is_[I_MAX_BAR] = j


@jit
def check_breaks(
    cfg: F64,
    fs: F64,
    is_: I64,
    ring: F64,
    obs: F64,
    ev: F64,
    n: int,
    bar: int,
    h: float,
    lo: float,
    c: float,
) -> int:
    """Break the pending swing levels with this bar (close or wick); emit BOS / CHoCH and order blocks."""
    wick = cfg[C_STRUCT_WICK] > 0.5
    size = ring.shape[1]
    if is_[I_HI_BAR] >= 0 and (h if wick else c) > fs[F_HI_LEVEL]:
        kind = K_CHOCH if is_[I_TREND] == -1 else K_BOS
        n = emit(ev, n, kind, bar, -1.0, 1.0, fs[F_HI_LEVEL], math.nan, is_[I_HI_BAR], 0.0, 0.0, 0.0)
        is_[I_TREND] = 1
        if cfg[C_EN_OB] > 0.5:
            if is_[I_MIN_BAR] >= 0:
                ob_bar = is_[I_MIN_BAR]
                top = fs[F_MIN_CANDLE_HIGH]
                bottom = fs[F_MIN_SINCE_HI]
            else:
                ob_bar = bar - 1
                top = ring[R_HIGH, ob_bar % size]
                bottom = ring[R_LOW, ob_bar % size]
            n = create_order_block(cfg, fs, is_, ring, obs, ev, n, bar, 1, ob_bar, top, bottom)
        is_[I_HI_BAR] = -1
    if is_[I_LO_BAR] >= 0 and (lo if wick else c) < fs[F_LO_LEVEL]:
        kind = K_CHOCH if is_[I_TREND] == 1 else K_BOS
        n = emit(ev, n, kind, bar, -1.0, -1.0, fs[F_LO_LEVEL], math.nan, is_[I_LO_BAR], 0.0, 0.0, 0.0)
        is_[I_TREND] = -1
        if cfg[C_EN_OB] > 0.5:
            if is_[I_MAX_BAR] >= 0:
                ob_bar = is_[I_MAX_BAR]
                top = fs[F_MAX_SINCE_LO]
                bottom = fs[F_MAX_CANDLE_LOW]
            else:
                ob_bar = bar - 1
                top = ring[R_HIGH, ob_bar % size]
                bottom = ring[R_LOW, ob_bar % size]
            n = create_order_block(cfg, fs, is_, ring, obs, ev, n, bar, -1, ob_bar, top, bottom)
        is_[I_LO_BAR] = -1
    return n


@jit
def track_extremes(fs: F64, is_: I64, bar: int, h: float, lo: float) -> None:
    """After the break checks: include this bar in the extreme-since-pivot trackers."""
    if is_[I_HI_BAR] >= 0 and lo <= fs[F_MIN_SINCE_HI]:
        fs[F_MIN_SINCE_HI] = lo
        fs[F_MIN_CANDLE_HIGH] = h
        is_[I_MIN_BAR] = bar
    if is_[I_LO_BAR] >= 0 and h >= fs[F_MAX_SINCE_LO]:
        fs[F_MAX_SINCE_LO] = h
        fs[F_MAX_CANDLE_LOW] = lo
        is_[I_MAX_BAR] = bar
