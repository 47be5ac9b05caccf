"""Peer-compatible `fvg` (smartmoneyconcepts 0.0.27 semantics, own implementation).

Reproduced: the gap is written on the MIDDLE candle i (look-ahead: it needs candle i+1). Bullish when
high[i-1] < low[i+1] and candle i closes up (top = low[i+1], bottom = high[i-1]); bearish when
low[i-1] > high[i+1] and candle i closes down (top = low[i-1], bottom = high[i+1]). With
`join_consecutive`, a run of same-direction gaps on consecutive rows collapses onto its last row with the
highest top and lowest bottom. MitigatedIndex: first j >= i+2 with low[j] <= top (bullish) or
high[j] >= bottom (bearish), else 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kernel.jit import jit
from ..kernel.tables import F64
from .frame import columns, frame
from .search import block_max, block_min, first_above, first_below


@jit
def _fvg(o: F64, h: F64, lo: F64, c: F64, join: bool) -> tuple[F64, F64, F64, F64]:
    n = c.shape[0]
    fvg = np.full(n, np.nan)
    top = np.full(n, np.nan)
    bottom = np.full(n, np.nan)
    for i in range(1, n - 1):
        if c[i] > o[i] and h[i - 1] < lo[i + 1]:
            fvg[i] = 1.0
            top[i] = lo[i + 1]
            bottom[i] = h[i - 1]
        elif c[i] < o[i] and lo[i - 1] > h[i + 1]:
            fvg[i] = -1.0
            top[i] = lo[i - 1]
            bottom[i] = h[i + 1]
    if join:
        for i in range(n - 1):
            if fvg[i] == fvg[i + 1]:
                top[i + 1] = max(top[i], top[i + 1])
                bottom[i + 1] = min(bottom[i], bottom[i + 1])
                fvg[i] = np.nan
                top[i] = np.nan
                bottom[i] = np.nan
    mitigated = np.full(n, np.nan)
    mins = block_min(lo)
    maxs = block_max(h)
    for i in range(n):
        if np.isnan(fvg[i]):
            continue
        if fvg[i] == 1.0:
            j = first_below(lo, mins, i + 2, top[i], False)
        else:
            j = first_above(h, maxs, i + 2, bottom[i], False)
        mitigated[i] = j if j >= 0 else 0.0
    return fvg, top, bottom, mitigated


def fvg(ohlc: pd.DataFrame, join_consecutive: bool = False) -> pd.DataFrame:
    """Columns FVG, Top, Bottom, MitigatedIndex."""
    col = columns(ohlc)
    f, t, b, m = _fvg(col["open"], col["high"], col["low"], col["close"], bool(join_consecutive))
    return frame(FVG=f, Top=t, Bottom=b, MitigatedIndex=m)
