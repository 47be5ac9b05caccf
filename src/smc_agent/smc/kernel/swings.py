"""Compiled swing (pivot) detection, ATR and the dealing range / retracement state."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .jit import jit, jit_inline
from .layout import (
    C_ATR_LEN,
    F_ATR,
    F_PREV_CLOSE,
    F_RANGE_HI,
    F_RANGE_LO,
    F_RETR_CUR,
    F_RETR_DEEP,
    F_TR_SUM,
    I_RANGE_HI_BAR,
    I_RANGE_LO_BAR,
    I_RETR_DIR,
    R_HIGH,
    R_LOW,
)
from .tables import F64, I64


@jit_inline
def atr_step(
    t: int, h: float, lo: float, prev_close: float, atr_len: int, tr_sum: float, atr: float
) -> tuple[float, float]:
    """One bar of `update_atr` on plain values (for the batch loops): the new (true-range sum, ATR)."""
    tr = h - lo if t == 0 else max(h - lo, abs(h - prev_close), abs(lo - prev_close))
    if t < atr_len:
        tr_sum += tr
        return tr_sum, tr_sum / (t + 1)
    return tr_sum, atr + (tr - atr) / atr_len


@jit
def update_atr(cfg: F64, fs: F64, bar: int, h: float, lo: float, c: float) -> None:
    """Wilder ATR: running mean of true range for the first `atr_length` bars, then RMA."""
    n = int(cfg[C_ATR_LEN])
    if bar == 0:
        tr = h - lo
    else:
        pc = fs[F_PREV_CLOSE]
        tr = max(h - lo, abs(h - pc), abs(lo - pc))
    if bar < n:
        fs[F_TR_SUM] += tr
        fs[F_ATR] = fs[F_TR_SUM] / (bar + 1)
    else:
        fs[F_ATR] = fs[F_ATR] + (tr - fs[F_ATR]) / n
    fs[F_PREV_CLOSE] = c


@jit
def pivot_at(ring: F64, bar: int, length: int) -> tuple[bool, bool]:
    """Is bar `bar - length` a swing high / low? Needs `length` bars on each side.

    High: strictly above every high of the `length` bars before, at least every high of the `length` bars
    after (so of equal highs the first one is the pivot). Low symmetric.
    """
    c = bar - length
    if c - length < 0:
        return False, False
    size = ring.shape[1]
    hc = ring[R_HIGH, c % size]
    lc = ring[R_LOW, c % size]
    is_hi = True
    is_lo = True
    k = (c - length) % size  # walk the ring without a modulo per element
    for j in range(c - length, bar + 1):
        if j != c:
            hj = ring[R_HIGH, k]
            lj = ring[R_LOW, k]
            if j < c:
                if hj >= hc:
                    is_hi = False
                if lj <= lc:
                    is_lo = False
            else:
                if hj > hc:
                    is_hi = False
                if lj < lc:
                    is_lo = False
            if not is_hi and not is_lo:
                return False, False
        k += 1
        if k == size:
            k = 0
    return is_hi, is_lo


@jit
def _retracement(fs: F64, direction: int, h: float, lo: float) -> float:
    rng = fs[F_RANGE_HI] - fs[F_RANGE_LO]
    if math.isnan(rng) or rng <= 0.0:
        return math.nan
    if direction == 1:
        return float((fs[F_RANGE_HI] - lo) / rng * 100.0)
    return float((h - fs[F_RANGE_LO]) / rng * 100.0)


@jit
def set_range_end(fs: F64, is_: I64, ring: F64, bar: int, pivot: int, is_high: bool, level: float) -> None:
    """A newly confirmed swing becomes one end of the dealing range; retracement restarts from it.

    The deepest retracement is seeded with the extreme of the bars between the pivot and now.
    """
    size = ring.shape[1]
    if is_high:
        fs[F_RANGE_HI] = level
        is_[I_RANGE_HI_BAR] = pivot
        is_[I_RETR_DIR] = 1
    else:
        fs[F_RANGE_LO] = level
        is_[I_RANGE_LO_BAR] = pivot
        is_[I_RETR_DIR] = -1
    deep = math.nan
    for j in range(pivot + 1, bar):
        r = _retracement(fs, int(is_[I_RETR_DIR]), ring[R_HIGH, j % size], ring[R_LOW, j % size])
        if not math.isnan(r) and (math.isnan(deep) or r > deep):
            deep = r
    fs[F_RETR_DEEP] = deep


@jit
def update_retracement(fs: F64, is_: I64, h: float, lo: float) -> None:
    """Current and deepest retracement (%) of bar (h, lo) into the dealing range."""
    direction = int(is_[I_RETR_DIR])
    if direction == 0:
        return
    r = _retracement(fs, direction, h, lo)
    fs[F_RETR_CUR] = r
    if not math.isnan(r) and (math.isnan(fs[F_RETR_DEEP]) or r > fs[F_RETR_DEEP]):
        fs[F_RETR_DEEP] = r


@jit
def pivot_flags(high: F64, low: F64, length: int) -> npt.NDArray[np.uint8]:
    """`pivot_at` for every bar of whole arrays (batch): bit 1 swing high, bit 2 swing low.

    Same definition, evaluated branch-free one offset at a time over all bars. The loops index views
    aligned on the candidate bars with a counter from 0, so numba drops its negative-index
    wraparound and LLVM vectorises them (with `high[c - k]` they stayed scalar: 6x slower).
    """
    n = high.shape[0]
    out = np.zeros(n, dtype=np.uint8)
    first, end = length, n - length
    if end <= first:
        return out
    m = end - first
    flags = out[first:end]
    hc = high[first:end]
    lc = low[first:end]
    for i in range(m):
        flags[i] = 3
    for k in range(1, length + 1):
        hb = high[first - k : end - k]
        ha = high[first + k : end + k]
        lb = low[first - k : end - k]
        la = low[first + k : end + k]
        for i in range(m):
            keep_hi = np.uint8((hb[i] < hc[i]) & (ha[i] <= hc[i]))
            keep_lo = np.uint8((lb[i] > lc[i]) & (la[i] >= lc[i])) << np.uint8(1)
            flags[i] &= keep_hi | keep_lo
    return out
