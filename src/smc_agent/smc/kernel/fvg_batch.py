"""Compiled batch loop for fair value gaps alone.

The same per-bar rules and order as the full kernel (`kernel.fvg` inside `kernel.step`): mitigation
of the gaps confirmed before the bar, then detection of the gap between candles t-2 and t (size
filter, join, the `max_active` cap dropping the oldest tracked gap, i.e. the lowest id). No ring
buffer, event log or other concepts; the result columns are written by id. The tracked gaps are
kept per side sorted by mitigation level, so a bar mitigates a suffix instead of scanning them all. ATR is computed only when the size filter
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
from .swings import atr_step
from .tables import F64, I64


@jit
def _remove(keys: F64, ids: I64, nk: I64, side: int, oid: int) -> None:
    """Remove gap `oid` from side `side`'s sorted table (order of the others kept)."""
    w = 0
    for r in range(nk[side]):
        if ids[side, r] != oid:
            keys[side, w] = keys[side, r]
            ids[side, w] = ids[side, r]
            w += 1
    nk[side] = w


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
    # tracked gaps per side (0 bullish, 1 bearish), ascending by key = mitigation level (bullish) or
    # its negation (bearish): a bar with x = low (bullish) / -high (bearish) mitigates exactly the
    # suffix with key >= x (negation is exact, so these are the kernel's comparisons)
    keys = np.empty((2, cap))
    ids = np.empty((2, cap), dtype=np.int64)
    nk = np.zeros(2, dtype=np.int64)
    # per side, the highest key (-inf when empty): a bar mitigates something iff x <= it
    trig = np.full(2, -math.inf)
    use_atr = min_atr != 0.0
    tr_sum = 0.0
    atr = 0.0
    prev_close = 0.0
    for t in range(count):
        h = high[t]
        lo = low[t]
        if use_atr:
            tr_sum, atr = atr_step(t, h, lo, prev_close, atr_len, tr_sum, atr)  # as `swings.update_atr`
            prev_close = close[t]
        if lo <= trig[0] or -h <= trig[1]:
            for s in range(2):
                x = lo if s == 0 else -h
                m = nk[s]
                while m > 0 and keys[s, m - 1] >= x:
                    m -= 1
                    o_mit[ids[s, m]] = t
                nk[s] = m
                trig[s] = keys[s, m - 1] if m > 0 else -math.inf
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
        side = 0 if direction > 0 else 1
        oid = ng
        ng += 1
        # join: the kernel's last tracked gap is the newest one still tracked, so it was confirmed on
        # the previous bar iff gap `oid - 1` was and is neither mitigated nor merged
        lid = oid - 1
        tracked = lid >= 0 and o_mit[lid] < 0 and o_merged[lid] < 0
        if join and tracked and o_conf[lid] == t - 1 and o_dir[lid] == direction:
            o_merged[lid] = t
            top = max(top, o_top[lid])
            bottom = min(bottom, o_bottom[lid])
            formed = o_formed[lid]
            _remove(keys, ids, nk, side, lid)
            trig[side] = keys[side, nk[side] - 1] if nk[side] > 0 else -math.inf
        if nk[0] + nk[1] == cap:  # drop the oldest tracked gap (no event: it keeps mitigated / merged -1)
            old = oid
            old_side = 0
            for u in range(2):
                for r in range(nk[u]):
                    if ids[u, r] < old:
                        old = ids[u, r]
                        old_side = u
            _remove(keys, ids, nk, old_side, old)
            u = old_side
            trig[u] = keys[u, nk[u] - 1] if nk[u] > 0 else -math.inf
        level = mitigation_level(mode, direction, top, bottom)
        key = level if side == 0 else -level
        r = nk[side]
        while r > 0 and keys[side, r - 1] > key:
            keys[side, r] = keys[side, r - 1]
            ids[side, r] = ids[side, r - 1]
            r -= 1
        keys[side, r] = key
        ids[side, r] = oid
        nk[side] += 1
        trig[side] = max(trig[side], key)
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
