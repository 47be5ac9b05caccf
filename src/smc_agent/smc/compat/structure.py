"""Peer-compatible `bos_choch` (smartmoneyconcepts 0.0.27 semantics, own implementation).

Reproduced: over the swing sequence, each new swing d with the three before it (a, b, c) classifies the
swing b (written on b's row, level = b's price, stored as float32):
bullish BOS when types are (low, high, low, high) and a < c < b < d; bearish BOS for (high, low, high, low)
and a > c > b > d; bullish CHoCH for (low, high, low, high) and d > b > a > c; bearish CHoCH for
(high, low, high, low) and d < b < a < c. Then, in row order, a signal is broken by the first j >= row+2
whose close (or high / low with close_break=False) goes beyond the level; a broken signal erases every
earlier signal whose break came at or after its own (their BrokenIndex is kept); unbroken signals are
deleted (look-ahead: the past changes with future data).
"""

# ruff: noqa: PLR0917  (compiled kernels take their arrays positionally; numba has no kw-only)

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kernel.jit import jit
from ..kernel.tables import F32, F64
from .frame import columns, frame, swing_arrays
from .search import block_max, block_min, first_above, first_below


@jit
def _classify(hl: F64, level: F64) -> tuple[F64, F64, F32]:
    n = hl.shape[0]
    bos = np.zeros(n)
    choch = np.zeros(n)
    lvl = np.zeros(n, dtype=np.float32)
    pos = np.flatnonzero(~np.isnan(hl))
    for k in range(3, pos.shape[0]):
        p = pos[k - 2]
        t0, t1, t2, t3 = hl[pos[k - 3]], hl[pos[k - 2]], hl[pos[k - 1]], hl[pos[k]]
        a, b, c, d = level[pos[k - 3]], level[pos[k - 2]], level[pos[k - 1]], level[pos[k]]
        up = t0 == -1.0 and t1 == 1.0 and t2 == -1.0 and t3 == 1.0
        down = t0 == 1.0 and t1 == -1.0 and t2 == 1.0 and t3 == -1.0
        bos_v = 0.0
        if up and a < c < b < d:
            bos_v = 1.0
        if down and a > c > b > d:
            bos_v = -1.0
        choch_v = 0.0
        if up and d > b > a > c:
            choch_v = 1.0
        if down and d < b < a < c:
            choch_v = -1.0
        bos[p] = bos_v
        choch[p] = choch_v
        lvl[p] = b if (bos_v != 0.0 or choch_v != 0.0) else 0.0
    return bos, choch, lvl


@jit
def _breaks(bos: F64, choch: F64, lvl: F32, mins: F64, maxs: F64, up_src: F64, down_src: F64) -> F64:
    n = bos.shape[0]
    broken = np.zeros(n)
    stack = np.empty(n, dtype=np.int64)  # broken signals still standing, break index increasing
    top = 0
    for i in range(n):
        if bos[i] == 0.0 and choch[i] == 0.0:
            continue
        x = np.float64(lvl[i])
        if bos[i] == 1.0 or choch[i] == 1.0:
            j = first_above(up_src, maxs, i + 2, x, True)
        else:
            j = first_below(down_src, mins, i + 2, x, True)
        if j < 0:
            continue
        broken[i] = j
        while top > 0 and broken[stack[top - 1]] >= j:
            k = stack[top - 1]
            bos[k] = 0.0
            choch[k] = 0.0
            lvl[k] = 0.0
            top -= 1
        stack[top] = i
        top += 1
    for i in range(n):
        if (bos[i] != 0.0 or choch[i] != 0.0) and broken[i] == 0.0:
            bos[i] = 0.0
            choch[i] = 0.0
            lvl[i] = 0.0
    return broken


def bos_choch(ohlc: pd.DataFrame, swing_highs_lows: pd.DataFrame, close_break: bool = True) -> pd.DataFrame:
    """Columns BOS, CHOCH, Level, BrokenIndex."""
    col = columns(ohlc)
    hl, level = swing_arrays(swing_highs_lows)
    bos, choch, lvl = _classify(hl, level)
    up_src = col["close"] if close_break else col["high"]
    down_src = col["close"] if close_break else col["low"]
    broken = _breaks(bos, choch, lvl, block_min(down_src), block_max(up_src), up_src, down_src)
    return frame(
        BOS=np.where(bos != 0, bos, np.nan),
        CHOCH=np.where(choch != 0, choch, np.nan),
        Level=np.where(lvl != 0, lvl, np.nan),
        BrokenIndex=np.where(broken != 0, broken, np.nan),
    )
