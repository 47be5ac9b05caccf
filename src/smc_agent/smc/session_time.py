"""Local minute-of-day of candle open times in each session's named time zone (DST via zoneinfo)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .config import SessionSpec
from .kernel.tables import I64


def local_minutes(ts_ms: I64, sessions: tuple[SessionSpec, ...]) -> I64:
    """(n, len(sessions)) array: minute of the local day at each candle open, per session time zone."""
    out = np.empty((ts_ms.shape[0], len(sessions)), dtype=np.int64)
    if not sessions:
        return out
    utc = pd.DatetimeIndex(pd.to_datetime(ts_ms, unit="ms", utc=True))
    cache: dict[str, I64] = {}
    for k, spec in enumerate(sessions):
        if spec.tz not in cache:
            local = utc.tz_convert(spec.tz)
            cache[spec.tz] = np.asarray(local.hour * 60 + local.minute, dtype=np.int64)
        out[:, k] = cache[spec.tz]
    return out


class MinuteClock:
    """Per-candle version of `local_minutes` for the streaming API (one conversion per distinct zone)."""

    def __init__(self, sessions: tuple[SessionSpec, ...]) -> None:
        zones = sorted({s.tz for s in sessions})
        self._zones = [ZoneInfo(z) for z in zones]
        self._slot = [zones.index(s.tz) for s in sessions]
        self._out = np.zeros(len(sessions), dtype=np.int64)

    def minutes(self, ts_ms: int) -> I64:
        utc = datetime.fromtimestamp(ts_ms / 1000.0, tz=UTC)
        per_zone = []
        for zone in self._zones:
            local = utc.astimezone(zone)
            per_zone.append(local.hour * 60 + local.minute)
        for k, slot in enumerate(self._slot):
            self._out[k] = per_zone[slot]
        return self._out
