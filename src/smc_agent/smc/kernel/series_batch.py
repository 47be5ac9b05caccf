"""Compiled batch loops for per-bar series alone (retracements, sessions, previous periods) and swings.

The same per-bar rules as the full kernel (`swings.set_range_end` / `update_retracement`,
`sessions.update_sessions`, `periods.update_periods`), writing only the series the caller asked for: no ring buffer, event
log, ATR or other concepts. Swings come from one vectorised pivot pass (`swings.pivot_flags`).
Equality with `analyze(...)` is property-tested (tests/smc/test_batch_functions.py).
"""

# ruff: noqa: PLR0917  (compiled loops with their state in locals)

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .jit import jit
from .periods import period_key
from .sessions import in_window
from .swings import pivot_flags
from .tables import F64, I64


@jit
def _retracement(range_hi: float, range_lo: float, direction: int, h: float, lo: float) -> float:
    """`swings._retracement` on the range ends held in locals (same operations)."""
    rng = range_hi - range_lo
    if math.isnan(rng) or rng <= 0.0:
        return math.nan
    if direction == 1:
        return float((range_hi - lo) / rng * 100.0)
    return float((h - range_lo) / rng * 100.0)


@jit
def run_retracements(length: int, high: F64, low: F64) -> tuple[I64, F64, F64]:
    """Per bar after it: direction (+1 last swing a high, -1 a low, 0 none), current and deepest %."""
    count = high.shape[0]
    pivots = pivot_flags(high, low, length)
    out_dir = np.empty(count, dtype=np.int64)
    out_cur = np.empty(count)
    out_deep = np.empty(count)
    range_hi = math.nan
    range_lo = math.nan
    direction = 0
    cur = math.nan
    deep = math.nan
    for t in range(count):
        p = t - length
        if p >= 0 and pivots[p] != 0:
            for s in range(2):
                if not pivots[p] & (1 << s):
                    continue
                if s == 0:
                    range_hi = high[p]
                    direction = 1
                else:
                    range_lo = low[p]
                    direction = -1
                deep = math.nan
                for j in range(p + 1, t):
                    r = _retracement(range_hi, range_lo, direction, high[j], low[j])
                    if not math.isnan(r) and (math.isnan(deep) or r > deep):
                        deep = r
        if direction != 0:
            r = _retracement(range_hi, range_lo, direction, high[t], low[t])
            cur = r
            if not math.isnan(r) and (math.isnan(deep) or r > deep):
                deep = r
        out_dir[t] = direction
        out_cur[t] = cur
        out_deep[t] = deep
    return out_dir, out_cur, out_deep


@jit
def run_sessions(
    windows: I64, offsets: I64, ts_ms: I64, high: F64, low: F64, out_high: F64, out_low: F64
) -> None:
    """Fill `out_high[k, t]` / `out_low[k, t]`: running high / low of session k's current instance
    after bar t (NaN when inactive). `offsets[t, k]`: UTC offset (minutes) of session k's zone."""
    count = high.shape[0]
    for k in range(windows.shape[0]):
        start = int(windows[k, 0])
        end = int(windows[k, 1])
        active = False
        run_hi = math.nan
        run_lo = math.nan
        for t in range(count):
            minute = (ts_ms[t] // 60_000) % 1440 + offsets[t, k]
            while minute < 0:
                minute += 1440
            while minute >= 1440:
                minute -= 1440
            if in_window(int(minute), start, end):
                if not active:
                    active = True
                    run_hi = high[t]
                    run_lo = low[t]
                else:
                    run_hi = max(run_hi, high[t])
                    run_lo = min(run_lo, low[t])
            else:
                active = False
                run_hi = math.nan
                run_lo = math.nan
            out_high[k, t] = run_hi
            out_low[k, t] = run_lo


@jit
def day_index(ts_ms: I64) -> tuple[I64, I64, bool]:
    """(distinct days in order of appearance, day position of each row, rows sorted by day?) of
    `ts_ms // 86_400_000` (UTC days), one pass; the first two are only meaningful when the third is True."""
    count = ts_ms.shape[0]
    row_day = np.empty(count, dtype=np.int64)
    days = np.empty(count, dtype=np.int64)
    nd = 0
    prev = 0
    for t in range(count):
        day = ts_ms[t] // 86_400_000  # a constant divisor: a multiply, not a division
        if nd == 0 or day != prev:
            if nd > 0 and day < prev:
                return days[:0], row_day[:0], False
            days[nd] = day
            nd += 1
            prev = day
        row_day[t] = nd - 1
    return days[:nd].copy(), row_day, True


@jit
def gather_rows(per_day: I64, row_day: I64) -> I64:
    """`per_day[row_day]` for a 2-D `per_day` (one compiled pass)."""
    out = np.empty((row_day.shape[0], per_day.shape[1]), dtype=np.int64)
    for t in range(row_day.shape[0]):
        d = row_day[t]
        for k in range(per_day.shape[1]):
            out[t, k] = per_day[d, k]
    return out


@jit
def run_swings(length: int, high: F64, low: F64) -> tuple[I64, F64, I64, I64]:
    """Swing columns in the kernel's emission order (by confirming bar, a high before a low):
    direction, price, formed_at (the pivot bar), confirmed_at (`length` bars later)."""
    pivots = pivot_flags(high, low, length)
    total = 0
    for p in range(pivots.shape[0]):
        total += (pivots[p] & 1) + (pivots[p] >> 1)
    out_dir = np.empty(total, dtype=np.int64)
    out_price = np.empty(total)
    out_formed = np.empty(total, dtype=np.int64)
    out_conf = np.empty(total, dtype=np.int64)
    k = 0
    for p in range(pivots.shape[0]):
        flags = pivots[p]
        if flags == 0:
            continue
        if flags & 1:
            out_dir[k] = 1
            out_price[k] = high[p]
            out_formed[k] = p
            out_conf[k] = p + length
            k += 1
        if flags & 2:
            out_dir[k] = -1
            out_price[k] = low[p]
            out_formed[k] = p
            out_conf[k] = p + length
            k += 1
    return out_dir, out_price, out_formed, out_conf


@jit
def run_periods(
    ts_ms: I64, high: F64, low: F64
) -> tuple[F64, F64, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per period code (0 UTC day, 1 ISO week, 2 calendar month) and bar, after the bar: previous
    complete period's high and low (NaN before one exists) and whether the current period has broken
    them, by `periods.update_periods`' rules."""
    count = high.shape[0]
    prev_hi = np.empty((3, count))
    prev_lo = np.empty((3, count))
    broken_hi = np.empty((3, count), dtype=np.bool_)
    broken_lo = np.empty((3, count), dtype=np.bool_)
    for code in range(3):
        key = 0
        last_day = 0
        cur_hi = 0.0
        cur_lo = 0.0
        p_hi = math.nan
        p_lo = math.nan
        has_prev = False
        b_hi = False
        b_lo = False
        for t in range(count):
            h = high[t]
            lo = low[t]
            day = ts_ms[t] // 86_400_000
            if t == 0 or day != last_day:  # a period key is a function of the UTC day
                k = period_key(code, day * 86_400_000)
                last_day = day
            if t == 0 or k != key:
                if t > 0:
                    p_hi = cur_hi
                    p_lo = cur_lo
                    has_prev = True
                key = k
                b_hi = False
                b_lo = False
                cur_hi = h
                cur_lo = lo
            else:
                cur_hi = max(cur_hi, h)
                cur_lo = min(cur_lo, lo)
            if has_prev:
                if not b_hi and h > p_hi:
                    b_hi = True
                if not b_lo and lo < p_lo:
                    b_lo = True
            prev_hi[code, t] = p_hi if has_prev else math.nan
            prev_lo[code, t] = p_lo if has_prev else math.nan
            broken_hi[code, t] = b_hi
            broken_lo[code, t] = b_lo
    return prev_hi, prev_lo, broken_hi, broken_lo
