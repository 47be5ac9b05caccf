"""Compiled batch loop for liquidity alone: the same per-bar liquidity rules as the full kernel
(`kernel.liquidity`), without the ring buffer and the other concepts, and with tables shaped for a
whole-array pass.

The streaming kernel keeps one candidate table and one pool table for both directions in insertion
order and scans them; here each direction has its own tables, kept sorted by the price that retires
(candidates) or sweeps (pools) them, so a bar retires or sweeps a suffix and never scans:

- swing-high candidates descending by `level + tol` (retired when `high > level + tol`), swing-low
  candidates ascending by `level - tol` (retired when `low < level - tol`);
- equal-highs pools descending by top (swept when `high > top`), equal-lows pools ascending by bottom.

Both sides share one code path: side 1 (lows) stores its keys negated and compares `-low`, which is
exact (IEEE negation commutes with rounding), so every comparison is the streaming kernel's.

Every candidate carries a global insertion sequence number, so "the most recent same-side candidate
within tolerance" (pairing) and "the oldest candidate of either side" (dropped when `max_active`
candidates are tracked) are the streaming kernel's choices; pool ids are their insertion order, so
the pool dropped at `max_active` is the lowest id of either side. Swings come from one vectorised
pivot pass over the whole arrays (`swings.pivot_flags`). Per bar, in the kernel's order: ATR, sweeps,
candidate retirement, then the swings confirmed on this bar (high before low).

numba's disk cache does not track callees in other files: after changing `swings.pivot_flags`,
touch this file (or delete its `__pycache__/liquidity_batch.*.nb[ic]`) or the old pass stays linked.
Equality with `analyze(...).liquidity` is property-tested (tests/smc/test_batch_functions.py).
"""

# ruff: noqa: PLR0917  (compiled kernels take their arguments positionally; numba has no kw-only)

from __future__ import annotations

import math

import numpy as np

from .jit import jit
from .swings import atr_step, pivot_flags
from .tables import F64, I64


@jit
def _slack(level: float, tol: float) -> float:
    """Widening of a pairing bound so that rounding can never exclude a pair `abs(a - b) <= tol` admits."""
    return (abs(level) + tol) * 1e-9


@jit
def _near(key: float, widest: float) -> float:
    """A lower bound of `sign * level - tol` over candidates with keys (`sign * level + tol`, rounded)
    >= `key` and tolerances <= `widest`: key - 2 * widest, widened so that rounding never excludes a
    pair `abs(a - b) <= tol` admits."""
    return key - 2.0 * widest - (abs(key) + 2.0 * widest) * 1e-9


@jit
def run_liquidity(
    length: int, atr_len: int, tol_atr: float, cap: int, high: F64, low: F64, close: F64
) -> tuple[I64, F64, F64, F64, I64, I64, I64, I64, I64]:
    """Equal to the full kernel's liquidity pools on (high, low, close).

    Returns the pool columns in id order: direction, level, top, bottom, first_at, formed_at,
    confirmed_at, swept_at, closed_back (-1 where not swept).
    """
    count = high.shape[0]
    pivots = pivot_flags(high, low, length)
    # same-side pivots are more than `length` bars apart and a pool takes two swings
    max_pools = count // (length + 1) + 1
    p_dir = np.empty(max_pools, dtype=np.int64)
    p_level = np.empty(max_pools)
    p_top = np.empty(max_pools)
    p_bottom = np.empty(max_pools)
    p_first = np.empty(max_pools, dtype=np.int64)
    p_formed = np.empty(max_pools, dtype=np.int64)
    p_conf = np.empty(max_pools, dtype=np.int64)
    p_swept = np.empty(max_pools, dtype=np.int64)
    p_back = np.empty(max_pools, dtype=np.int64)
    n_pools = 0

    # candidates per side (0 highs, 1 lows), descending by key = sign * retirement price:
    # level, tol, pivot bar, global insertion sequence
    ck = np.empty((2, cap))
    cl = np.empty((2, cap))
    ct = np.empty((2, cap))
    cb = np.empty((2, cap), dtype=np.int64)
    cs = np.empty((2, cap), dtype=np.int64)
    nc = np.zeros(2, dtype=np.int64)
    seq = 0
    # per side, a lower bound of sign * (level -/+ tol) over its candidates: a swing with
    # sign * level below it cannot pair (exact after a search, conservative after retirements)
    reach = np.full(2, math.inf)
    # per side, an upper bound of the candidates' tolerances (exact after a search, raised by new
    # candidates): with the lowest key K, every lower edge is >= K - 2 * tmax (`_near`), a bound that
    # stays tight after retirements, which leave `reach` stale
    tmax = np.zeros(2)
    # pools per side, descending by key = sign * sweep price (top of highs, bottom of lows), and id
    qk = np.empty((2, cap))
    qi = np.empty((2, cap), dtype=np.int64)
    nq = np.zeros(2, dtype=np.int64)

    # per side, the lowest key of its pools and candidates: a bar with `high` (side 0) or `-low`
    # (side 1) above it sweeps or retires something
    trig_hi = math.inf
    trig_lo = math.inf

    tr_sum = 0.0
    atr = 0.0
    prev_close = 0.0
    for t in range(count):
        h = high[t]
        lo = low[t]
        c = close[t]
        tr_sum, atr = atr_step(t, h, lo, prev_close, atr_len, tr_sum, atr)  # as `swings.update_atr`
        prev_close = c

        if h > trig_hi or -lo > trig_lo:
            for s in range(2):
                x = h if s == 0 else -lo
                # sweeps: a suffix of the side's pools
                m = nq[s]
                while m > 0 and x > qk[s, m - 1]:
                    m -= 1
                    oid = qi[s, m]
                    p_swept[oid] = t
                    p_back[oid] = 1 if (c if s == 0 else -c) <= qk[s, m] else 0
                nq[s] = m
                low_key = qk[s, m - 1] if m > 0 else math.inf
                # candidate retirement: a suffix of the side's candidates
                m = nc[s]
                while m > 0 and x > ck[s, m - 1]:
                    m -= 1
                nc[s] = m
                if m > 0:
                    low_key = min(low_key, ck[s, m - 1])
                if s == 0:
                    trig_hi = low_key
                else:
                    trig_lo = low_key

        p = t - length
        if p < 0 or pivots[p] == 0:
            continue
        for s in range(2):
            if not pivots[p] & (1 << s):
                continue
            sign = 1.0 if s == 0 else -1.0
            level = high[p] if s == 0 else low[p]
            n = nc[s]
            # pairing: the most recent candidate of the side within its tolerance
            match = -1
            if n > 0 and sign * level >= reach[s] and sign * level >= _near(ck[s, n - 1], tmax[s]):
                best = -1
                bound = math.inf
                widest = 0.0
                for r in range(n):
                    lv = cl[s, r]
                    tl = ct[s, r]
                    widest = max(widest, tl)
                    bound = min(bound, sign * lv - tl - _slack(lv, tl))
                    if cs[s, r] > best and abs(level - lv) <= tl:
                        best = cs[s, r]
                        match = r
                reach[s] = bound
                tmax[s] = widest
            if match >= 0:
                other = cl[s, match]
                first = cb[s, match]
                for r in range(match + 1, n):
                    ck[s, r - 1] = ck[s, r]
                    cl[s, r - 1] = cl[s, r]
                    ct[s, r - 1] = ct[s, r]
                    cb[s, r - 1] = cb[s, r]
                    cs[s, r - 1] = cs[s, r]
                nc[s] = n - 1
                oid = n_pools
                n_pools += 1
                top = max(level, other)
                bottom = min(level, other)
                p_dir[oid] = 1 - 2 * s
                p_level[oid] = (level + other) / 2.0
                p_top[oid] = top
                p_bottom[oid] = bottom
                p_first[oid] = first
                p_formed[oid] = p
                p_conf[oid] = t
                p_swept[oid] = -1
                p_back[oid] = -1
                if nq[0] + nq[1] == cap:  # drop the oldest pool of either side (the lowest id)
                    old = oid
                    side = 0
                    for u in range(2):
                        for r in range(nq[u]):
                            if qi[u, r] < old:
                                old = qi[u, r]
                                side = u
                    w = 0
                    for r in range(nq[side]):
                        if qi[side, r] != old:
                            qk[side, w] = qk[side, r]
                            qi[side, w] = qi[side, r]
                            w += 1
                    nq[side] = w
                key = top if s == 0 else -bottom
                r = nq[s]
                while r > 0 and qk[s, r - 1] < key:
                    qk[s, r] = qk[s, r - 1]
                    qi[s, r] = qi[s, r - 1]
                    r -= 1
                qk[s, r] = key
                qi[s, r] = oid
                nq[s] += 1
                if s == 0:
                    trig_hi = min(trig_hi, key)
                else:
                    trig_lo = min(trig_lo, key)
                continue
            # no pair: a new candidate, dropping the oldest of either side when `cap` are tracked
            if nc[0] + nc[1] == cap:
                old = seq
                side = 0
                for u in range(2):
                    for r in range(nc[u]):
                        if cs[u, r] < old:
                            old = cs[u, r]
                            side = u
                w = 0
                for r in range(nc[side]):
                    if cs[side, r] != old:
                        ck[side, w] = ck[side, r]
                        cl[side, w] = cl[side, r]
                        ct[side, w] = ct[side, r]
                        cb[side, w] = cb[side, r]
                        cs[side, w] = cs[side, r]
                        w += 1
                nc[side] = w
            n = nc[s]
            tol = tol_atr * atr
            key = level + tol if s == 0 else -(level - tol)
            floor = sign * level - tol - _slack(level, tol)
            reach[s] = min(reach[s], floor) if n > 0 else floor
            tmax[s] = max(tmax[s], tol) if n > 0 else tol
            r = n
            while r > 0 and ck[s, r - 1] < key:
                ck[s, r] = ck[s, r - 1]
                cl[s, r] = cl[s, r - 1]
                ct[s, r] = ct[s, r - 1]
                cb[s, r] = cb[s, r - 1]
                cs[s, r] = cs[s, r - 1]
                r -= 1
            ck[s, r] = key
            cl[s, r] = level
            ct[s, r] = tol
            cb[s, r] = p
            cs[s, r] = seq
            nc[s] = n + 1
            if s == 0:
                trig_hi = min(trig_hi, key)
            else:
                trig_lo = min(trig_lo, key)
            seq += 1
    k = n_pools
    return (
        p_dir[:k].copy(),
        p_level[:k].copy(),
        p_top[:k].copy(),
        p_bottom[:k].copy(),
        p_first[:k].copy(),
        p_formed[:k].copy(),
        p_conf[:k].copy(),
        p_swept[:k].copy(),
        p_back[:k].copy(),
    )
