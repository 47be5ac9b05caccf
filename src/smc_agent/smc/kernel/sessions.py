"""Compiled sessions / kill zones: active flag and running high / low of the current instance."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import math

from .jit import jit
from .layout import S_ACTIVE, S_HIGH, S_LOW, S_START_BAR
from .tables import F64, I64


@jit
def in_window(minute: int, start: int, end: int) -> bool:
    """Local minute-of-day inside [start, end), wrapping midnight when start > end."""
    if minute < 0:
        return False
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


@jit
def update_sessions(sess: F64, windows: I64, offsets: I64, ts_ms: int, bar: int, h: float, lo: float) -> None:
    """`windows[k] = (start, end)` local minutes; `offsets[k]` = UTC offset (minutes) of session k's zone
    at this bar; local minute of day = (ts_ms // 60000 + offset) % 1440.

    A session instance starts on the first active bar after an inactive one. (One modulo of the UTC
    minute per bar; each zone's offset is then added with a wrap: the same local minute.)
    """
    utc_minute = (ts_ms // 60_000) % 1440
    for k in range(sess.shape[0]):
        minute = utc_minute + offsets[k]
        while minute < 0:
            minute += 1440
        while minute >= 1440:
            minute -= 1440
        if in_window(int(minute), int(windows[k, 0]), int(windows[k, 1])):
            if sess[k, S_ACTIVE] < 0.5:
                sess[k, S_ACTIVE] = 1.0
                sess[k, S_HIGH] = h
                sess[k, S_LOW] = lo
                sess[k, S_START_BAR] = bar
            else:
                sess[k, S_HIGH] = max(sess[k, S_HIGH], h)
                sess[k, S_LOW] = min(sess[k, S_LOW], lo)
        else:
            sess[k, S_ACTIVE] = 0.0
            sess[k, S_HIGH] = math.nan
            sess[k, S_LOW] = math.nan
