"""Peer-compatible `sessions` (smartmoneyconcepts 0.0.27 semantics, own implementation).

Reproduced: fixed UTC windows, both ends INCLUSIVE at minute resolution, wrapping midnight when
start >= end; `time_zone` "UTC+N" / "GMT+N" is mapped to the POSIX zone "Etc/GMT+N", which is UTC-N (the
peer's sign inversion), and there is no DST. High / Low: running extremes over consecutive active
candles, stored as float32, 0 when inactive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kernel.jit import jit
from ..kernel.tables import F32, F64, I32, I64
from .frame import columns, frame

SESSIONS: dict[str, tuple[str, str]] = {
    "Sydney": ("21:00", "06:00"),
    "Tokyo": ("00:00", "09:00"),
    "London": ("07:00", "16:00"),
    "New York": ("13:00", "22:00"),
    "Asian kill zone": ("00:00", "04:00"),
    "London open kill zone": ("6:00", "9:00"),
    "New York kill zone": ("11:00", "14:00"),
    "london close kill zone": ("14:00", "16:00"),
}


def _minute(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@jit
def _run(minute: I64, h: F64, lo: F64, start: int, end: int) -> tuple[I32, F32, F32]:
    n = h.shape[0]
    active = np.zeros(n, dtype=np.int32)
    high = np.zeros(n, dtype=np.float32)
    low = np.zeros(n, dtype=np.float32)
    for i in range(n):
        m = minute[i]
        inside = (start <= m <= end) if start < end else (m >= start or m <= end)
        if inside:
            active[i] = 1
            prev_hi = np.float64(high[i - 1]) if i > 0 else 0.0
            high[i] = max(h[i], prev_hi)
            prev_lo = np.float64(low[i - 1]) if i > 0 and low[i - 1] != 0 else np.inf
            low[i] = min(lo[i], prev_lo)
    return active, high, low


def sessions(
    ohlc: pd.DataFrame, session: str, start_time: str = "", end_time: str = "", time_zone: str = "UTC"
) -> pd.DataFrame:
    """Columns Active (int32), High, Low (float32)."""
    if session == "Custom" and (start_time == "" or end_time == ""):
        raise ValueError("Custom session requires a start and end time")
    if session == "Custom":
        start_s, end_s = start_time, end_time
    elif session in SESSIONS:
        start_s, end_s = SESSIONS[session]
    else:
        raise KeyError(session)
    col = columns(ohlc)
    index = pd.DatetimeIndex(pd.to_datetime(ohlc.index))
    if time_zone != "UTC":
        zone = time_zone.replace("GMT", "Etc/GMT").replace("UTC", "Etc/GMT")
        index = index.tz_localize(zone).tz_convert("UTC")
    minute = np.asarray(index.hour * 60 + index.minute, dtype=np.int64)
    active, high, low = _run(minute, col["high"], col["low"], _minute(start_s), _minute(end_s))
    return frame(Active=active, High=high, Low=low)
