"""Peer-compatible `liquidity` (smartmoneyconcepts 0.0.27 semantics, own implementation).

Reproduced: tolerance = (max(high) - min(low)) of the WHOLE input * range_percent (look-ahead). For each
unused swing high i (in order): swept = first j > i with high[j] >= level + tolerance (0 if none); later
unused swing highs within [level - tol, level + tol] that come before `swept` join the group and are
marked used. A group of two or more is written on row i: Liquidity 1, Level = mean of the group,
End = last member, Swept. Swing lows mirror it (low <= level - tolerance). Outputs are float32.
"""

# ruff: noqa: PLR0917  (compiled kernels take their arrays positionally; numba has no kw-only)

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kernel.jit import jit
from ..kernel.tables import F64
from .frame import columns, frame, swing_arrays
from .search import block_max, block_min, first_above, first_below


@jit
def _side(
    kind: float,
    hl: F64,
    level: F64,
    h: F64,
    lo: F64,
    pip: float,
    liq: F64,
    lvl: F64,
    end: F64,
    swept_out: F64,
) -> None:
    n = h.shape[0]
    idx = np.flatnonzero(hl == kind)
    extrema = block_max(h) if kind > 0 else block_min(lo)
    for a in range(idx.shape[0]):
        i = idx[a]
        if hl[i] != kind:
            continue
        base = level[i]
        lo_band = base - pip
        hi_band = base + pip
        swept = 0
        if i + 1 < n:
            j = (
                first_above(h, extrema, i + 1, hi_band, False)
                if kind > 0
                else first_below(lo, extrema, i + 1, lo_band, False)
            )
            swept = j if j >= 0 else 0
        total = base
        members = 1
        last = i
        for b in range(a + 1, idx.shape[0]):
            j = idx[b]
            if swept != 0 and j >= swept:
                break
            if hl[j] == kind and lo_band <= level[j] <= hi_band:
                total += level[j]
                members += 1
                last = j
                hl[j] = 0.0
        if members > 1:
            liq[i] = kind
            lvl[i] = total / members
            end[i] = last
            swept_out[i] = swept


def liquidity(
    ohlc: pd.DataFrame, swing_highs_lows: pd.DataFrame, range_percent: float = 0.01
) -> pd.DataFrame:
    """Columns Liquidity, Level, End, Swept."""
    col = columns(ohlc)
    hl, level = swing_arrays(swing_highs_lows)
    hl = hl.copy()
    pip = float((col["high"].max() - col["low"].min()) * range_percent)
    n = hl.shape[0]
    liq, lvl, end, swept = (np.full(n, np.nan) for _ in range(4))
    for kind in (1.0, -1.0):
        _side(kind, hl, level, col["high"], col["low"], pip, liq, lvl, end, swept)
    return frame(
        Liquidity=liq.astype(np.float32),
        Level=lvl.astype(np.float32),
        End=end.astype(np.float32),
        Swept=swept.astype(np.float32),
    )
