"""Compiled batch loop for fair value gaps alone.

The same per-bar rules and order as the full kernel (`kernel.fvg` inside `kernel.step`): mitigation
of the gaps confirmed before the bar, then detection of the gap between candles t-2 and t (size
filter, join, the `max_active` cap dropping the oldest tracked gap). No ring buffer, event log or
other concepts; the result columns are written by id. ATR is computed only when the size filter
uses it: with `fvg_min_size_atr == 0` the filter `top - bottom < 0 * atr` is false for every gap
(`top > bottom`, and `0 * atr` is 0, or NaN when ATR overflowed), whatever ATR is.
Equality with `analyze(...).fvgs` is property-tested (tests/smc/test_batch_functions.py).
"""

# ruff: noqa: PLR0917  (one compiled loop with its state in locals)

from __future__ import annotations

import math

import numpy as np

from .fvg import mitigation_level
from .jit import jit
from .tables import F64, I64


@jit
def run_fvgs(
    atr_len: int, min_atr: float, mode: int, join: bool, cap: int, high: F64, low: F64, close: F64
) -> tuple[I64, F64, F64, I64, I64, I64, I64]:
    """Gap columns by id: direction, top, bottom, formed_at, confirmed_at, mitigated_at, merged_at."""
    count = high.shape[0]
    m = max(count - 2, 0)  # at most one gap per bar from bar 2 on
    o_dir = np.empty(m, dtype=np.int64)
    o_top = np.empty(m)
    o_bottom = np.empty(m)
    o_formed = np.empty(m, dtype=np.int64)
    o_conf = np.empty(m, dtype=np.int64)
    o_mit = np.empty(m, dtype=np.int64)
    o_merged = np.empty(m, dtype=np.int64)
    ng = 0
    # tracked gaps in insertion order: id, direction, mitigation level
    a_id = np.empty(cap, dtype=np.int64)
    a_dir = np.empty(cap)
    a_level = np.empty(cap)
    na = 0
    bull_trig = -math.inf
    bear_trig = math.inf
    use_atr = min_atr != 0.0
    tr_sum = 0.0
    atr = 0.0
    prev_close = 0.0
    for t in range(count):
        h = high[t]
        lo = low[t]
        if use_atr:
            # Wilder ATR, the same operations as `swings.update_atr`
            tr = h - lo if t == 0 else max(h - lo, abs(h - prev_close), abs(lo - prev_close))
            if t < atr_len:
                tr_sum += tr
                atr = tr_sum / (t + 1)
            else:
                atr = atr + (tr - atr) / atr_len
            prev_close = close[t]
        if lo <= bull_trig or h >= bear_trig:
            bull_trig = -math.inf
            bear_trig = math.inf
            w = 0
            for r in range(na):
                direction = a_dir[r]
                level = a_level[r]
                if (direction > 0 and lo <= level) or (direction < 0 and h >= level):
                    o_mit[a_id[r]] = t
                    continue
                if direction > 0:
                    bull_trig = max(bull_trig, level)
                else:
                    bear_trig = min(bear_trig, level)
                if w != r:
                    a_id[w] = a_id[r]
                    a_dir[w] = direction
                    a_level[w] = level
                w += 1
            na = w
        if t < 2:
            continue
        h2 = high[t - 2]
        l2 = low[t - 2]
        if lo > h2:
            direction = 1
            top = lo
            bottom = h2
        elif h < l2:
            direction = -1
            top = l2
            bottom = h
        else:
            continue
        if use_atr and top - bottom < min_atr * atr:
            continue
        formed = t - 1
        oid = ng
        ng += 1
        if join and na > 0:
            last = na - 1
            lid = a_id[last]
            if o_conf[lid] == t - 1 and a_dir[last] == direction:
                o_merged[lid] = t
                top = max(top, o_top[lid])
                bottom = min(bottom, o_bottom[lid])
                formed = o_formed[lid]
                na = last
        if na == cap:  # drop the oldest tracked gap (no event: it keeps mitigated / merged -1)
            for r in range(1, na):
                a_id[r - 1] = a_id[r]
                a_dir[r - 1] = a_dir[r]
                a_level[r - 1] = a_level[r]
            na -= 1
        level = mitigation_level(mode, direction, top, bottom)
        a_id[na] = oid
        a_dir[na] = direction
        a_level[na] = level
        na += 1
        if direction > 0:
            bull_trig = max(bull_trig, level)
        else:
            bear_trig = min(bear_trig, level)
        o_dir[oid] = direction
        o_top[oid] = top
        o_bottom[oid] = bottom
        o_formed[oid] = formed
        o_conf[oid] = t
        o_mit[oid] = -1
        o_merged[oid] = -1
    return (
        o_dir[:ng].copy(),
        o_top[:ng].copy(),
        o_bottom[:ng].copy(),
        o_formed[:ng].copy(),
        o_conf[:ng].copy(),
        o_mit[:ng].copy(),
        o_merged[:ng].copy(),
    )
