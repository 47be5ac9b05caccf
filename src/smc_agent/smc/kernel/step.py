"""The compiled per-candle step (all concepts in a fixed order) and the compiled batch loop over it."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import math

import numpy as np

from .fvg import detect_fvg, update_fvgs
from .jit import jit, jit_inline
from .layout import (
    C_CAP,
    C_EN_FVG,
    C_EN_LIQ,
    C_EN_OB,
    C_EN_PERIODS,
    C_EN_SESSIONS,
    C_EN_STRUCT,
    C_EN_SWING,
    C_STRUCT_WICK,
    C_SWING_LEN,
    EV_FIELDS,
    F_ATR,
    F_FVG_BEAR_TRIG,
    F_FVG_BULL_TRIG,
    F_HI_LEVEL,
    F_LO_LEVEL,
    F_MAX_SINCE_LO,
    F_MIN_SINCE_HI,
    F_OB_BEAR_TRIG,
    F_OB_BULL_TRIG,
    F_PERIOD0,
    F_RANGE_HI,
    F_RANGE_LO,
    F_RETR_CUR,
    F_RETR_DEEP,
    I_BAR,
    I_HI_BAR,
    I_LO_BAR,
    I_PERIOD0,
    I_RETR_DIR,
    I_TREND,
    K_SWING,
    MAX_STEP_EVENTS_BASE,
    R_HIGH,
    R_LOW,
    R_VOL,
    S_HIGH,
    S_LOW,
    SER_ATR,
    SER_PERIOD0,
    SER_RANGE_HI,
    SER_RANGE_LO,
    SER_RETR_CUR,
    SER_RETR_DEEP,
    SER_RETR_DIR,
    SER_TREND,
)
from .liquidity import add_swing, liquidity_due, update_liquidity
from .order_blocks import update_order_blocks
from .periods import update_periods
from .sessions import update_sessions
from .structure import check_breaks, register_swing, track_extremes
from .swings import pivot_at, set_range_end, update_atr, update_retracement
from .tables import F64, I64, emit


@jit
def _on_swing(
    cfg: F64,
    fs: F64,
    is_: I64,
    ring: F64,
    cands: F64,
    pools: F64,
    ev: F64,
    n: int,
    bar: int,
    pivot: int,
    is_high: bool,
) -> int:
    level = ring[R_HIGH if is_high else R_LOW, pivot % ring.shape[1]]
    direction = 1 if is_high else -1
    n = emit(ev, n, K_SWING, bar, -1.0, direction, level, math.nan, pivot, 0.0, 0.0, 0.0)
    set_range_end(fs, is_, ring, bar, pivot, is_high, level)
    if cfg[C_EN_STRUCT] > 0.5:
        register_swing(fs, is_, ring, bar, pivot, is_high, level)
    if cfg[C_EN_LIQ] > 0.5:
        n = add_swing(cfg, fs, is_, cands, pools, ev, n, bar, pivot, direction, level)
    return n


@jit_inline
def step(
    cfg: F64,
    fs: F64,
    is_: I64,
    ring: F64,
    obs: F64,
    fvgs: F64,
    cands: F64,
    pools: F64,
    sess: F64,
    windows: I64,
    offsets: I64,
    ev: F64,
    n: int,
    h: float,
    lo: float,
    c: float,
    v: float,
    ts_ms: int,
) -> int:
    """Process one closed candle; append its events to `ev` from row `n`; return the new row count.

    Order: lifecycle of existing objects (they never react on their confirming bar), periods, sessions,
    swings confirmed now, structure breaks (and order blocks), new fair value gap, retracement.
    """
    bar = int(is_[I_BAR])
    size = ring.shape[1]
    slot = bar % size
    ring[R_HIGH, slot] = h
    ring[R_LOW, slot] = lo
    ring[R_VOL, slot] = v
    update_atr(cfg, fs, bar, h, lo, c)
    # Each concept function is entered only when this bar can change something in it (the same
    # conditions the functions test first): a call costs the reference counting of its array arguments.
    if cfg[C_EN_OB] > 0.5 and (lo <= fs[F_OB_BULL_TRIG] or h >= fs[F_OB_BEAR_TRIG]):
        n = update_order_blocks(cfg, fs, is_, obs, ev, n, bar, h, lo, c)
    if cfg[C_EN_FVG] > 0.5 and (lo <= fs[F_FVG_BULL_TRIG] or h >= fs[F_FVG_BEAR_TRIG]):
        n = update_fvgs(fs, is_, fvgs, ev, n, bar, h, lo)
    if cfg[C_EN_LIQ] > 0.5 and liquidity_due(fs, h, lo):
        n = update_liquidity(fs, is_, cands, pools, ev, n, bar, h, lo, c)
    if cfg[C_EN_PERIODS] > 0.5:
        n = update_periods(fs, is_, ev, n, bar, ts_ms, h, lo)
    if cfg[C_EN_SESSIONS] > 0.5:
        update_sessions(sess, windows, offsets, ts_ms, bar, h, lo)
    if cfg[C_EN_SWING] > 0.5:
        length = int(cfg[C_SWING_LEN])
        is_hi, is_lo = pivot_at(ring, bar, length)
        if is_hi:
            n = _on_swing(cfg, fs, is_, ring, cands, pools, ev, n, bar, bar - length, True)
        if is_lo:
            n = _on_swing(cfg, fs, is_, ring, cands, pools, ev, n, bar, bar - length, False)
        if cfg[C_EN_STRUCT] > 0.5:
            wick = cfg[C_STRUCT_WICK] > 0.5
            up = h if wick else c
            down = lo if wick else c
            if (is_[I_HI_BAR] >= 0 and up > fs[F_HI_LEVEL]) or (is_[I_LO_BAR] >= 0 and down < fs[F_LO_LEVEL]):
                n = check_breaks(cfg, fs, is_, ring, obs, ev, n, bar, h, lo, c)
            if (is_[I_HI_BAR] >= 0 and lo <= fs[F_MIN_SINCE_HI]) or (
                is_[I_LO_BAR] >= 0 and h >= fs[F_MAX_SINCE_LO]
            ):
                track_extremes(fs, is_, bar, h, lo)
        update_retracement(fs, is_, h, lo)
    if cfg[C_EN_FVG] > 0.5 and bar >= 2:
        slot2 = slot - 2 if slot >= 2 else slot - 2 + size
        if lo > ring[R_HIGH, slot2] or h < ring[R_LOW, slot2]:
            n = detect_fvg(cfg, fs, is_, ring, fvgs, ev, n, bar, h, lo)
    is_[I_BAR] = bar + 1
    return n


@jit
def _write_series(fs: F64, is_: I64, ser: F64, t: int) -> None:
    ser[SER_TREND, t] = is_[I_TREND]
    ser[SER_RANGE_HI, t] = fs[F_RANGE_HI]
    ser[SER_RANGE_LO, t] = fs[F_RANGE_LO]
    ser[SER_RETR_DIR, t] = is_[I_RETR_DIR]
    ser[SER_RETR_CUR, t] = fs[F_RETR_CUR]
    ser[SER_RETR_DEEP, t] = fs[F_RETR_DEEP]
    ser[SER_ATR, t] = fs[F_ATR]
    for code in range(3):
        fb = F_PERIOD0 + 4 * code
        ib = I_PERIOD0 + 4 * code
        sb = SER_PERIOD0 + 4 * code
        has_prev = is_[ib + 3] == 1
        ser[sb, t] = fs[fb + 2] if has_prev else math.nan
        ser[sb + 1, t] = fs[fb + 3] if has_prev else math.nan
        ser[sb + 2, t] = is_[ib + 1]
        ser[sb + 3, t] = is_[ib + 2]


@jit
def run_batch(
    cfg: F64,
    fs: F64,
    is_: I64,
    ring: F64,
    obs: F64,
    fvgs: F64,
    cands: F64,
    pools: F64,
    sess: F64,
    windows: I64,
    offsets: I64,
    high: F64,
    low: F64,
    close: F64,
    volume: F64,
    ts_ms: I64,
    ser: F64,
    sess_ser: F64,
) -> F64:
    """Run `step` over every candle; returns the event log (a view of the first rows of its buffer). Fills the column-major per-bar series
    `ser` (SER_FIELDS, n) and `sess_ser` (sessions, 2, n) when they have columns."""
    count = high.shape[0]
    reserve = MAX_STEP_EVENTS_BASE + 4 * int(cfg[C_CAP])
    # one row per candle is more than the full set emits on real or random data (about 0.85): the
    # buffer rarely grows, and its untouched tail is never paged in
    ev = np.empty((count + reserve, EV_FIELDS))
    n = 0
    for t in range(count):
        if n + reserve > ev.shape[0]:
            grown = np.empty((2 * ev.shape[0], EV_FIELDS))
            grown[:n] = ev[:n]
            ev = grown
        n = step(
            cfg,
            fs,
            is_,
            ring,
            obs,
            fvgs,
            cands,
            pools,
            sess,
            windows,
            offsets[t],
            ev,
            n,
            high[t],
            low[t],
            close[t],
            volume[t],
            ts_ms[t],
        )
        if ser.shape[1] > 0:
            _write_series(fs, is_, ser, t)
        if sess_ser.shape[2] > 0:
            for k in range(sess.shape[0]):
                sess_ser[k, 0, t] = sess[k, S_HIGH]
                sess_ser[k, 1, t] = sess[k, S_LOW]
    return ev[:n]
