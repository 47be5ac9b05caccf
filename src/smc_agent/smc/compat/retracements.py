"""Peer-compatible `retracements` (smartmoneyconcepts 0.0.27 semantics, own implementation).

Reproduced: direction follows the last swing (1 after a high, -1 after a low); while the PREVIOUS row's
direction is 1, current = 100 - (low - bottom) / (top - bottom) * 100; while THIS row's direction is -1,
current = 100 - (high - top) / (bottom - top) * 100 (0 when the range is 0), both rounded to 0.1 with
Python's round; deepest = running max within a direction. All three arrays are then rolled right by one
row (the last row wraps to the first) and zeroed up to the third direction change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kernel.jit import jit
from ..kernel.tables import F64, I32
from .frame import columns, frame, swing_arrays


@jit
def _raw(hl: F64, level: F64, h: F64, lo: F64) -> tuple[I32, F64, F64]:
    """Unrounded values (rounding is monotonic, so max-then-round == round-then-max)."""
    n = h.shape[0]
    direction = np.zeros(n, dtype=np.int32)
    cur = np.zeros(n)
    deep = np.zeros(n)
    top = 0.0
    bottom = 0.0
    for i in range(n):
        if hl[i] == 1.0:
            direction[i] = 1
            top = level[i]
        elif hl[i] == -1.0:
            direction[i] = -1
            bottom = level[i]
        else:
            direction[i] = direction[i - 1] if i > 0 else 0
        prev = direction[i - 1] if i > 0 else direction[n - 1]
        if prev == 1:
            divisor = top - bottom
            cur[i] = 100.0 - ((lo[i] - bottom) / divisor) * 100.0 if divisor != 0 else 0.0
            deep[i] = max(deep[i - 1] if i > 0 and direction[i - 1] == 1 else 0.0, cur[i])
        if direction[i] == -1:
            divisor = bottom - top
            cur[i] = 100.0 - ((h[i] - top) / divisor) * 100.0 if divisor != 0 else 0.0
            deep[i] = max(deep[i - 1] if i > 0 and direction[i - 1] == -1 else 0.0, cur[i])
    return direction, cur, deep


def round1(x: F64) -> F64:
    """Python's `round(v, 1)` for every element (correctly rounded; numpy's differs near halves)."""
    out = np.round(x, 1)
    scaled = x * 10.0
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(near_half):
        out[i] = round(float(x[i]), 1)
    return out


def retracements(ohlc: pd.DataFrame, swing_highs_lows: pd.DataFrame) -> pd.DataFrame:
    """Columns Direction (int32), CurrentRetracement%, DeepestRetracement% (float64)."""
    col = columns(ohlc)
    hl, level = swing_arrays(swing_highs_lows)
    direction, cur, deep = _raw(hl, level, col["high"], col["low"])
    cur = np.roll(round1(cur), 1)
    deep = np.roll(round1(deep), 1)
    direction = np.roll(direction, 1)
    changes = 0
    n = direction.shape[0]
    for i in range(n - 1):
        if direction[i] != direction[i + 1]:
            changes += 1
        direction[i] = 0
        cur[i] = 0.0
        deep[i] = 0.0
        if changes == 3:
            direction[i + 1] = 0
            cur[i + 1] = 0.0
            deep[i + 1] = 0.0
            break
    return frame(Direction=direction, **{"CurrentRetracement%": cur, "DeepestRetracement%": deep})
