"""Compiled batch loop for liquidity alone: the same per-bar liquidity steps as the full kernel, without
the ring buffer and the other concepts (swings are read from the whole arrays)."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import numpy as np

from .jit import jit
from .layout import C_CAP, C_SWING_LEN, EV_FIELDS, MAX_STEP_EVENTS_BASE
from .liquidity import add_swing, liquidity_due, update_liquidity
from .swings import pivot_flags, update_atr
from .tables import F64, I64


@jit
def run_liquidity(
    cfg: F64, fs: F64, is_: I64, cands: F64, pools: F64, high: F64, low: F64, close: F64
) -> F64:
    """Equal to `run_batch` with only liquidity enabled, restricted to the liquidity events.

    Per bar, in the kernel's order: ATR, sweeps and candidate retirement, then the swings confirmed
    on this bar (high before low) paired into pools.
    """
    count = high.shape[0]
    length = int(cfg[C_SWING_LEN])
    reserve = MAX_STEP_EVENTS_BASE + 4 * int(cfg[C_CAP])
    ev = np.empty((max(256, count // 8) + reserve, EV_FIELDS))
    pivots = pivot_flags(high, low, length)
    n = 0
    for t in range(count):
        if n + reserve > ev.shape[0]:
            grown = np.empty((2 * ev.shape[0], EV_FIELDS))
            grown[:n] = ev[:n]
            ev = grown
        h = high[t]
        lo = low[t]
        update_atr(cfg, fs, t, h, lo, close[t])
        if liquidity_due(fs, h, lo):
            n = update_liquidity(fs, is_, cands, pools, ev, n, t, h, lo, close[t])
        p = t - length
        if p < 0 or pivots[p] == 0:
            continue
        if pivots[p] & 1:
            n = add_swing(cfg, fs, is_, cands, pools, ev, n, t, p, 1, high[p])
        if pivots[p] & 2:
            n = add_swing(cfg, fs, is_, cands, pools, ev, n, t, p, -1, low[p])
    return ev[:n]
