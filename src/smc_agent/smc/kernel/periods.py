"""Compiled previous-period high / low (UTC day, ISO week from Monday, calendar month) and breaks."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

from .jit import jit
from .layout import F_PERIOD0, I_PERIOD0, K_PERIOD_BROKEN
from .tables import F64, I64, emit

MS_PER_DAY = 86_400_000


@jit
def month_key(day: int) -> int:
    """Months since 1970-01 of the civil date `day` days after 1970-01-01 (proleptic Gregorian)."""
    z = day + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return (y - 1970) * 12 + (m - 1)


@jit
def period_key(code: int, ts_ms: int) -> int:
    day = ts_ms // MS_PER_DAY
    if code == 0:
        return day
    if code == 1:
        return (day + 3) // 7  # 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC
    return month_key(day)


@jit
def update_periods(fs: F64, is_: I64, ev: F64, n: int, bar: int, ts_ms: int, h: float, lo: float) -> int:
    """Roll the period when the bar opens in a new one; flag the first break of the previous extremes."""
    for code in range(3):
        fb = F_PERIOD0 + 4 * code  # cur_hi, cur_lo, prev_hi, prev_lo
        ib = I_PERIOD0 + 4 * code  # key, broken_hi, broken_lo, has_prev
        key = period_key(code, ts_ms)
        if bar == 0 or key != is_[ib]:
            if bar > 0:
                fs[fb + 2] = fs[fb]
                fs[fb + 3] = fs[fb + 1]
                is_[ib + 3] = 1
            is_[ib] = key
            is_[ib + 1] = 0
            is_[ib + 2] = 0
            fs[fb] = h
            fs[fb + 1] = lo
        else:
            fs[fb] = max(fs[fb], h)
            fs[fb + 1] = min(fs[fb + 1], lo)
        if is_[ib + 3] == 1:
            if is_[ib + 1] == 0 and h > fs[fb + 2]:
                is_[ib + 1] = 1
                n = emit(ev, n, K_PERIOD_BROKEN, bar, -1.0, 1.0, fs[fb + 2], 0.0, -1.0, code, 0.0, 0.0)
            if is_[ib + 2] == 0 and lo < fs[fb + 3]:
                is_[ib + 2] = 1
                n = emit(ev, n, K_PERIOD_BROKEN, bar, -1.0, -1.0, fs[fb + 3], 0.0, -1.0, code, 0.0, 0.0)
    return n
