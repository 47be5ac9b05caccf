"""Peer-compatible `swing_highs_lows` (smartmoneyconcepts 0.0.27 semantics, own implementation).

Definition reproduced: bar i (i >= 2L-1) is a swing high when high[i] equals the max of high[i-L+1 .. i+L]
(L-1 bars before, L after; incomplete windows never match), else a swing low when low[i] equals the
min of low[i-L+1 .. i+L]. Then, repeatedly until stable, of two consecutive same-type swings the lower
high (the higher low) is dropped -- on ties the later one -- all pairs of a round at once. Finally row 0
gets the opposite type of the first swing and the last row the opposite of the last swing (look-ahead:
the last row of any call is always a swing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kernel.jit import jit
from ..kernel.tables import F64
from .frame import columns, frame


@jit
def _window_extrema(high: F64, low: F64, length: int) -> F64:
    """1 / -1 / NaN per bar from the (L-1 before, L after) window test, high taking precedence."""
    n = high.shape[0]
    out = np.full(n, np.nan)
    for i in range(2 * length - 1, n - length):
        hi = high[i]
        lo = low[i]
        is_hi = True
        is_lo = True
        for j in range(i - length + 1, i + length + 1):
            if high[j] > hi:
                is_hi = False
            if low[j] < lo:
                is_lo = False
            if not is_hi and not is_lo:
                break
        if is_hi:
            out[i] = 1.0
        elif is_lo:
            out[i] = -1.0
    return out


@jit
def _thin(shl: F64, high: F64, low: F64) -> None:
    """Drop consecutive same-type swings round by round (simultaneous removal within a round)."""
    while True:
        pos = np.flatnonzero(~np.isnan(shl))
        m = pos.shape[0]
        if m < 2:
            return
        remove = np.zeros(m, dtype=np.bool_)
        for k in range(m - 1):
            a = pos[k]
            b = pos[k + 1]
            if shl[a] == 1.0 and shl[b] == 1.0:
                if high[a] < high[b]:
                    remove[k] = True
                else:
                    remove[k + 1] = True
            elif shl[a] == -1.0 and shl[b] == -1.0:
                if low[a] > low[b]:
                    remove[k] = True
                else:
                    remove[k + 1] = True
        if not remove.any():
            return
        for k in range(m):
            if remove[k]:
                shl[pos[k]] = np.nan


def swing_highs_lows(ohlc: pd.DataFrame, swing_length: int = 50) -> pd.DataFrame:
    """Columns HighLow (1 / -1 / NaN) and Level (the high / low of the swing bar)."""
    c = columns(ohlc)
    high, low = c["high"], c["low"]
    shl = _window_extrema(high, low, int(swing_length))
    _thin(shl, high, low)
    pos = np.flatnonzero(~np.isnan(shl))
    if pos.shape[0] > 0:
        first, last = pos[0], pos[-1]
        if shl[first] == 1:
            shl[0] = -1
        if shl[first] == -1:
            shl[0] = 1
        if shl[last] == -1:
            shl[-1] = 1
        if shl[last] == 1:
            shl[-1] = -1
    level = np.where(~np.isnan(shl), np.where(shl == 1, high, low), np.nan)
    return frame(HighLow=shl, Level=level)
