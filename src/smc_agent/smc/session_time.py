"""UTC offsets (minutes) of candle open times in each session's named time zone (DST via zoneinfo).

The kernel derives the local minute of day as (ts_ms // 60000 + offset) % 1440.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .config import SessionSpec
from .kernel.series_batch import day_index, gather_rows
from .kernel.tables import I64

_QUARTER_MS = 900_000  # every real time-zone transition happens on a quarter-hour boundary of UTC
_DAY_MS = 86_400_000


def _zone_offsets(ts_ms: I64, tz: str) -> I64:
    """UTC offset in minutes at each timestamp in zone `tz` (vectorised, exact: the floor of the
    wall-clock minus UTC milliseconds in minutes)."""
    naive = pd.DatetimeIndex(np.asarray(ts_ms, dtype=np.int64).astype("datetime64[ms]"))
    wall = naive.tz_localize("UTC").tz_convert(tz).tz_localize(None).as_unit("ms").asi8
    return np.asarray((wall - naive.asi8) // 60_000, dtype=np.int64)


def _day_index(ts_ms: I64) -> tuple[I64, I64]:
    """(distinct UTC days, day position of each row); one compiled pass when the times are sorted."""
    days, row_day, ordered = day_index(ts_ms)
    if not ordered:
        days, inverse = np.unique(ts_ms // _DAY_MS, return_inverse=True)
        return days, inverse.astype(np.int64)
    return days, row_day


def local_offsets(ts_ms: I64, sessions: tuple[SessionSpec, ...]) -> I64:
    """(n, len(sessions)) array: UTC offset in minutes at each candle open, per session time zone.

    Offsets are looked up once per UTC day and zone (at the day's start and last quarter hour); only
    rows of days where the two differ (a DST change) are converted one by one.
    """
    n = ts_ms.shape[0]
    if not sessions or n == 0:
        return np.zeros((n, len(sessions)), dtype=np.int64)
    days, row_day = _day_index(ts_ms)
    per_day = np.empty((days.shape[0], len(sessions)), dtype=np.int64)
    exact: list[tuple[list[int], I64]] = []  # (session columns, mixed days) per zone with a DST change
    for tz in dict.fromkeys(spec.tz for spec in sessions):
        cols = [k for k, spec in enumerate(sessions) if spec.tz == tz]
        both = _zone_offsets(np.concatenate((days * _DAY_MS, (days + 1) * _DAY_MS - _QUARTER_MS)), tz)
        first, last = both[: days.shape[0]], both[days.shape[0] :]
        per_day[:, cols] = first[:, None]
        mixed = first != last
        if mixed.any():
            exact.append((cols, mixed))
    out = gather_rows(per_day, row_day)
    for cols, mixed in exact:
        rows = np.flatnonzero(mixed[row_day])
        exact_rows = _zone_offsets(ts_ms[rows], sessions[cols[0]].tz)
        out[np.ix_(rows, np.asarray(cols, dtype=np.int64))] = exact_rows[:, None]
    return out


def _offset_minutes(zone: ZoneInfo, ts_ms: int) -> int:
    offset = datetime.fromtimestamp(ts_ms // 1000, tz=UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) // 60 if offset is not None else 0


class OffsetClock:
    """Per-candle version of `local_offsets` for the streaming API.

    Offsets are looked up at the start and end of each UTC day; on the rare day where they differ (a DST
    change) the lookup is per quarter hour (offsets only change on quarter-hour boundaries). The returned
    array is reused; a candle in an already seen quarter hour costs two integer divisions.
    """

    def __init__(self, sessions: tuple[SessionSpec, ...], out: I64 | None = None) -> None:
        """`out` (length `len(sessions)`): the array to fill and return (default: a new one)."""
        zones = sorted({s.tz for s in sessions})
        self._zones = [ZoneInfo(z) for z in zones]
        self._slot = [zones.index(s.tz) for s in sessions]
        if out is not None and out.shape != (len(sessions),):
            raise ValueError(f"out must have shape ({len(sessions)},), got {out.shape}")
        self._out = out if out is not None else np.zeros(len(sessions), dtype=np.int64)
        self._day: int | None = None
        self._day_offsets: list[int | None] = []  # None: the offset changes during this day
        self._quarter: int | None = None
        self._fixed_day = False

    def offsets(self, ts_ms: int) -> I64:
        quarter = ts_ms // _QUARTER_MS
        if quarter == self._quarter:
            return self._out
        self._quarter = quarter
        day = ts_ms // _DAY_MS
        if day == self._day and self._fixed_day:
            return self._out
        if day != self._day:
            start, last = day * _DAY_MS, (day + 1) * _DAY_MS - _QUARTER_MS
            self._day_offsets = []
            for zone in self._zones:
                a, b = _offset_minutes(zone, start), _offset_minutes(zone, last)
                self._day_offsets.append(a if a == b else None)
            self._day = day
            self._fixed_day = all(o is not None for o in self._day_offsets)
        per_zone = [
            fixed if fixed is not None else _offset_minutes(self._zones[k], quarter * _QUARTER_MS)
            for k, fixed in enumerate(self._day_offsets)
        ]
        self._out[:] = [per_zone[slot] for slot in self._slot]
        return self._out
