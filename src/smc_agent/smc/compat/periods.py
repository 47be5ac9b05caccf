"""Peer-compatible `previous_high_low` (smartmoneyconcepts 0.0.27 semantics, own implementation).

Reproduced: the candles are resampled with pandas to `time_frame` (empty periods dropped); for a candle
at time t, with k = number of period LABELS strictly before t, the reference period is k - 2 (valid when
k > 1). With left-labelled frequencies (1D, 4h) that is the previous period except on a period's first
candle, where it is the one before (the candle's own period label is not "before" it); with
right-labelled ones (W, ME) it is the period two back -- documented peer defects. Broken flags: running
max high / min low of the candles sharing the same reference period beyond the (float32) level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kernel.jit import jit
from ..kernel.tables import F64, I32, I64
from .frame import columns, frame


@jit
def _broken(ref: I64, h: F64, lo: F64, prev_hi: F64, prev_lo: F64) -> tuple[I32, I32]:
    n = h.shape[0]
    bh = np.zeros(n, dtype=np.int32)
    bl = np.zeros(n, dtype=np.int32)
    run_hi = 0.0
    run_lo = 0.0
    for i in range(n):
        if i == 0 or ref[i] != ref[i - 1]:
            run_hi = h[i]
            run_lo = lo[i]
        else:
            run_hi = max(run_hi, h[i])
            run_lo = min(run_lo, lo[i])
        if ref[i] >= 0:
            bh[i] = 1 if run_hi > prev_hi[i] else 0
            bl[i] = 1 if run_lo < prev_lo[i] else 0
    return bh, bl


def previous_high_low(ohlc: pd.DataFrame, time_frame: str = "1D") -> pd.DataFrame:
    """Columns PreviousHigh, PreviousLow (float32), BrokenHigh, BrokenLow (int32)."""
    col = columns(ohlc)
    n = len(ohlc)
    index = pd.DatetimeIndex(pd.to_datetime(ohlc.index))
    data = pd.DataFrame({"high": col["high"], "low": col["low"]}, index=index)
    periods = data.resample(time_frame).agg({"high": "max", "low": "min"}).dropna()
    prev_hi = np.full(n, np.nan, dtype=np.float32)
    prev_lo = np.full(n, np.nan, dtype=np.float32)
    if len(periods) < 2:
        return frame(
            PreviousHigh=prev_hi,
            PreviousLow=prev_lo,
            BrokenHigh=np.zeros(n, dtype=np.int32),
            BrokenLow=np.zeros(n, dtype=np.int32),
        )
    before = np.searchsorted(periods.index.to_numpy(), index.to_numpy(), side="left")
    ref = (before - 2).astype(np.int64)
    valid = before > 1
    ref[~valid] = -1 - (before[~valid])  # distinct negative groups, like the peer's (k - 2) values
    prev_hi[valid] = periods["high"].to_numpy()[ref[valid]]
    prev_lo[valid] = periods["low"].to_numpy()[ref[valid]]
    bh, bl = _broken(ref, col["high"], col["low"], prev_hi.astype(np.float64), prev_lo.astype(np.float64))
    return frame(PreviousHigh=prev_hi, PreviousLow=prev_lo, BrokenHigh=bh, BrokenLow=bl)
