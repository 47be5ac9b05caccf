"""Compiled batch loop for market structure (BOS / CHoCH) and, optionally, order blocks.

The same per-bar rules and order as the full kernel (`kernel.step` with `kernel.structure` and
`kernel.order_blocks`), without the ring buffer, the event log and the concepts the output does not
need: swings come from one vectorised pivot pass over the whole arrays (`swings.pivot_flags`), the
bars between a pivot and its confirmation are read from the arrays, and the result columns are
written directly (breaks in emission order, order blocks by id). Per bar: order block lifecycle
(blocks never react on their confirming bar), swings confirmed now (high before low), breaks (high
before low, each creating its block), then the extreme-since-pivot trackers.

The extreme trackers exist only for order blocks, so a call without them (`with_obs=False`) skips
them. Tracked blocks are kept per side and state (untouched / mitigated) sorted by the price that
changes them, so a bar mitigates and invalidates suffixes instead of scanning every block; the
`max_active` cap drops the lowest id, the kernel's oldest row. Equality with `analyze(...)` is property-tested (tests/smc/test_batch_functions.py).
"""

# ruff: noqa: PLR0917  (one compiled loop with its state in locals)

from __future__ import annotations

import math

import numpy as np

from .jit import jit
from .swings import pivot_flags
from .tables import F64, I64


@jit
def _insert(keys: F64, ids: I64, nk: I64, table: int, key: float, oid: int) -> None:
    """Insert block `oid` into `table`, keeping it ascending by key."""
    r = nk[table]
    while r > 0 and keys[table, r - 1] > key:
        keys[table, r] = keys[table, r - 1]
        ids[table, r] = ids[table, r - 1]
        r -= 1
    keys[table, r] = key
    ids[table, r] = oid
    nk[table] += 1


@jit
def run_structure(
    length: int,
    wick: bool,
    with_obs: bool,
    ob_wick: bool,
    cap: int,
    high: F64,
    low: F64,
    close: F64,
    volume: F64,
) -> tuple[I64, I64, F64, I64, I64, I64, F64, F64, I64, I64, F64, F64, I64, I64]:
    """Breaks (kind 1 BOS / 2 CHoCH, direction, level, swing bar, confirming bar) in emission order,
    then order blocks by id (direction, top, bottom, formed_at, confirmed_at, volume, strength,
    mitigated_at, invalidated_at; empty when `with_obs` is False)."""
    count = high.shape[0]
    pivots = pivot_flags(high, low, length)
    # every break consumes a distinct confirmed swing, and a bar confirms at most two
    max_breaks = 2 * (count // (length + 1) + 1)
    b_kind = np.empty(max_breaks, dtype=np.int64)
    b_dir = np.empty(max_breaks, dtype=np.int64)
    b_level = np.empty(max_breaks)
    b_swing = np.empty(max_breaks, dtype=np.int64)
    b_conf = np.empty(max_breaks, dtype=np.int64)
    nb = 0
    m_obs = max_breaks if with_obs else 0
    o_dir = np.empty(m_obs, dtype=np.int64)
    o_top = np.empty(m_obs)
    o_bottom = np.empty(m_obs)
    o_formed = np.empty(m_obs, dtype=np.int64)
    o_conf = np.empty(m_obs, dtype=np.int64)
    o_vol = np.empty(m_obs)
    o_str = np.empty(m_obs)
    o_mit = np.empty(m_obs, dtype=np.int64)
    o_inv = np.empty(m_obs, dtype=np.int64)
    no = 0
    # tracked order blocks in four tables, each ascending by its key (bearish keys negated, which is
    # exact): table 2 * side + 0 holds the side's unmitigated blocks keyed by the price that
    # mitigates them (bullish top / bearish -bottom; a bar with x = low / -high mitigates the suffix
    # with key >= x), table 2 * side + 1 its mitigated blocks keyed by the price beyond which they
    # are invalidated (bullish bottom / bearish -top; y = close or low / -(close or high)
    # invalidates the suffix with key > y)
    keys = np.empty((4, cap))
    ids = np.empty((4, cap), dtype=np.int64)
    nk = np.zeros(4, dtype=np.int64)
    # the kernel's scan triggers (`F_OB_BULL_TRIG` / `F_OB_BEAR_TRIG`): exact after a scan, raised by
    # new blocks, not lowered by the cap. A bar outside them changes no block when its close lies in
    # its range; the kernel skips it either way, so this loop does too (closes outside the range:
    # unvalidated arrays)
    bull_trig = -math.inf
    bear_trig = math.inf

    trend = 0
    hi_bar = -1
    lo_bar = -1
    hi_level = 0.0
    lo_level = 0.0
    min_since = math.inf
    min_candle_high = 0.0
    min_bar = -1
    max_since = -math.inf
    max_candle_low = 0.0
    max_bar = -1
    for t in range(count):
        h = high[t]
        lo = low[t]
        c = close[t]
        if with_obs and (lo <= bull_trig or h >= bear_trig):
            for side in range(2):
                x = lo if side == 0 else -h
                y = (lo if ob_wick else c) if side == 0 else -(h if ob_wick else c)
                u = 2 * side
                m = u + 1
                while nk[u] > 0 and keys[u, nk[u] - 1] >= x:  # first touch
                    nk[u] -= 1
                    oid = ids[u, nk[u]]
                    o_mit[oid] = t
                    _insert(keys, ids, nk, m, o_bottom[oid] if side == 0 else -o_top[oid], oid)
                if y < x:  # close outside the candle's range: an untouched block can break too
                    w = 0
                    for r in range(nk[u]):
                        oid = ids[u, r]
                        if (o_bottom[oid] if side == 0 else -o_top[oid]) > y:
                            o_inv[oid] = t
                            continue
                        keys[u, w] = keys[u, r]
                        ids[u, w] = oid
                        w += 1
                    nk[u] = w
                while nk[m] > 0 and keys[m, nk[m] - 1] > y:
                    nk[m] -= 1
                    o_inv[ids[m, nk[m]]] = t
            hi = -math.inf
            for u in range(2):
                if nk[u] > 0:
                    hi = max(hi, keys[u, nk[u] - 1])
            bull_trig = hi
            hi = -math.inf
            for u in range(2, 4):
                if nk[u] > 0:
                    hi = max(hi, keys[u, nk[u] - 1])
            bear_trig = -hi
        p = t - length
        if p >= 0 and pivots[p] != 0:
            if pivots[p] & 1:
                hi_level = high[p]
                hi_bar = p
                if with_obs:
                    min_since = math.inf
                    min_bar = -1
                    for j in range(p + 1, t):
                        if low[j] <= min_since:
                            min_since = low[j]
                            min_candle_high = high[j]
                            min_bar = j
            if pivots[p] & 2:
                lo_level = low[p]
                lo_bar = p
                if with_obs:
                    max_since = -math.inf
                    max_bar = -1
                    for j in range(p + 1, t):
                        if high[j] >= max_since:
                            max_since = high[j]
                            max_candle_low = low[j]
                            max_bar = j
        for s in range(2):
            if s == 0:
                if hi_bar < 0 or not (h if wick else c) > hi_level:
                    continue
                level = hi_level
                swing = hi_bar
                kind = 2 if trend == -1 else 1
                direction = 1
            else:
                if lo_bar < 0 or not (lo if wick else c) < lo_level:
                    continue
                level = lo_level
                swing = lo_bar
                kind = 2 if trend == 1 else 1
                direction = -1
            b_kind[nb] = kind
            b_dir[nb] = direction
            b_level[nb] = level
            b_swing[nb] = swing
            b_conf[nb] = t
            nb += 1
            trend = direction
            if s == 0:
                hi_bar = -1
            else:
                lo_bar = -1
            if not with_obs:
                continue
            if s == 0:
                if min_bar >= 0:
                    ob_bar = min_bar
                    top = min_candle_high
                    bottom = min_since
                else:
                    ob_bar = t - 1
                    top = high[ob_bar]
                    bottom = low[ob_bar]
            elif max_bar >= 0:
                ob_bar = max_bar
                top = max_since
                bottom = max_candle_low
            else:
                ob_bar = t - 1
                top = high[ob_bar]
                bottom = low[ob_bar]
            v0 = volume[t]
            v1 = volume[t - 1] if t >= 1 else 0.0
            v2 = volume[t - 2] if t >= 2 else 0.0
            recent = v0 + v1
            hi_v = max(recent, v2)
            oid = no
            no += 1
            o_dir[oid] = direction
            o_top[oid] = top
            o_bottom[oid] = bottom
            o_formed[oid] = ob_bar
            o_conf[oid] = t
            o_vol[oid] = v0 + v1 + v2
            o_str[oid] = min(recent, v2) / hi_v * 100.0 if hi_v != 0.0 else 100.0
            o_mit[oid] = -1
            o_inv[oid] = -1
            if nk[0] + nk[1] + nk[2] + nk[3] == cap:  # drop the oldest tracked block (the lowest id;
                # no event: it keeps mitigated / invalidated as they were)
                old = oid
                at = 0
                for u in range(4):
                    for r in range(nk[u]):
                        if ids[u, r] < old:
                            old = ids[u, r]
                            at = u
                w = 0
                for r in range(nk[at]):
                    if ids[at, r] != old:
                        keys[at, w] = keys[at, r]
                        ids[at, w] = ids[at, r]
                        w += 1
                nk[at] = w
            _insert(keys, ids, nk, 0 if direction > 0 else 2, top if direction > 0 else -bottom, oid)
            if direction > 0:
                bull_trig = max(bull_trig, top)
            else:
                bear_trig = min(bear_trig, bottom)
        if with_obs:
            if hi_bar >= 0 and lo <= min_since:
                min_since = lo
                min_candle_high = h
                min_bar = t
            if lo_bar >= 0 and h >= max_since:
                max_since = h
                max_candle_low = lo
                max_bar = t
    return (
        b_kind[:nb].copy(),
        b_dir[:nb].copy(),
        b_level[:nb].copy(),
        b_swing[:nb].copy(),
        b_conf[:nb].copy(),
        o_dir[:no].copy(),
        o_top[:no].copy(),
        o_bottom[:no].copy(),
        o_formed[:no].copy(),
        o_conf[:no].copy(),
        o_vol[:no].copy(),
        o_str[:no].copy(),
        o_mit[:no].copy(),
        o_inv[:no].copy(),
    )


@jit
def run_trend_range(length: int, wick: bool, high: F64, low: F64, close: F64) -> tuple[I64, F64, F64]:
    """Per bar after it: the trend (+1 / -1 / 0) set by the breaks of `run_structure`, and the
    dealing range (the last confirmed swing high and low, NaN before the first)."""
    count = high.shape[0]
    pivots = pivot_flags(high, low, length)
    out_trend = np.empty(count, dtype=np.int64)
    out_hi = np.empty(count)
    out_lo = np.empty(count)
    trend = 0
    hi_bar = -1
    lo_bar = -1
    range_hi = math.nan
    range_lo = math.nan
    for t in range(count):
        p = t - length
        if p >= 0 and pivots[p] != 0:
            if pivots[p] & 1:
                range_hi = high[p]
                hi_bar = p
            if pivots[p] & 2:
                range_lo = low[p]
                lo_bar = p
        if hi_bar >= 0 and (high[t] if wick else close[t]) > range_hi:
            trend = 1
            hi_bar = -1
        if lo_bar >= 0 and (low[t] if wick else close[t]) < range_lo:
            trend = -1
            lo_bar = -1
        out_trend[t] = trend
        out_hi[t] = range_hi
        out_lo[t] = range_lo
    return out_trend, out_hi, out_lo
