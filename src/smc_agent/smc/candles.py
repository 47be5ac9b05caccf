"""Validated OHLCV input for the batch functions, with an opt-in repair.

`Candles.from_arrays` / `Candles.from_frame` check, in this order, and raise `CandleError` naming the
first bad row: missing columns, NaN / infinite values, negative prices or volume, high < low,
open / close outside [low, high], duplicate timestamps, timestamps going backwards.
With `repair=True` instead: rows with NaN / inf / negative values are dropped, rows are sorted by time,
duplicate timestamps keep the last row, and high / low are widened to contain open and close;
`Candles.repairs` says what was done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

COLUMNS = ("open", "high", "low", "close", "volume")


class CandleError(ValueError):
    """Bad OHLCV input; the message names the first offending row."""


@dataclass(frozen=True, slots=True)
class Candles:
    """Column arrays of closed candles (float64 prices / volume, int64 open time in epoch ms)."""

    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    ts_ms: I64
    repairs: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def slice(self, stop: int) -> Candles:
        """The first `stop` candles (a causal prefix)."""
        return Candles(
            self.open[:stop],
            self.high[:stop],
            self.low[:stop],
            self.close[:stop],
            self.volume[:stop],
            self.ts_ms[:stop],
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        open: Any,
        high: Any,
        low: Any,
        close: Any,
        volume: Any | None = None,
        ts_ms: Any | None = None,
        repair: bool = False,
    ) -> Candles:
        cols = [_floats(a, name) for a, name in zip((open, high, low, close), COLUMNS, strict=False)]
        n = cols[0].shape[0]
        vol = np.zeros(n) if volume is None else _floats(volume, "volume")
        ts = (
            np.arange(n, dtype=np.int64) * 60_000
            if ts_ms is None
            else np.ascontiguousarray(np.asarray(ts_ms, dtype=np.int64))
        )
        for name, arr in zip((*COLUMNS, "ts_ms"), (*cols, vol, ts), strict=True):
            if arr.ndim != 1 or arr.shape[0] != n:
                raise CandleError(f"column {name!r} has shape {arr.shape}, expected ({n},)")
        o, h, lo, c = cols
        if repair:
            return _repair(o, h, lo, c, vol, ts)
        validate(o, h, lo, c, vol, ts)
        return cls(o, h, lo, c, vol, ts)

    @classmethod
    def from_frame(cls, frame: Any, *, repair: bool = False) -> Candles:
        """From a pandas DataFrame with columns open/high/low/close[/volume] (any case) and a time column
        `timestamp_ms` / `ts_ms` or a DatetimeIndex (timezone-naive is taken as UTC)."""
        lower = {str(c).lower(): c for c in frame.columns}
        missing = [c for c in COLUMNS[:4] if c not in lower]
        if missing:
            raise CandleError(f"missing columns {missing}; have {list(frame.columns)}")
        volume = frame[lower["volume"]].to_numpy() if "volume" in lower else None
        ts: Any = None
        for key in ("timestamp_ms", "ts_ms", "timestamp"):
            if key in lower:
                ts = frame[lower[key]].to_numpy()
                break
        if ts is None and hasattr(frame.index, "asi8") and str(frame.index.dtype).startswith("datetime64"):
            ts = frame.index.as_unit("ms").asi8
        return cls.from_arrays(
            open=frame[lower["open"]].to_numpy(),
            high=frame[lower["high"]].to_numpy(),
            low=frame[lower["low"]].to_numpy(),
            close=frame[lower["close"]].to_numpy(),
            volume=volume,
            ts_ms=ts,
            repair=repair,
        )


def _floats(values: Any, name: str) -> F64:
    try:
        return np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        for i, value in enumerate(values):
            try:
                float(value)
            except (TypeError, ValueError):
                raise CandleError(f"row {i}: {name} {value!r} is not a number") from None
        raise


def _first(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.argmax(mask))


def validate(o: F64, h: F64, lo: F64, c: F64, v: F64, ts: I64) -> None:  # noqa: PLR0917
    """Raise :class:`CandleError` naming the first bad row (the checks the module docstring lists)."""
    for name, arr in zip(COLUMNS, (o, h, lo, c, v), strict=True):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = _first(bad)
            raise CandleError(f"row {i}: {name} is not a finite number ({float(arr[i])})")
        neg = arr < 0
        if neg.any():
            i = _first(neg)
            raise CandleError(f"row {i}: {name} is negative ({float(arr[i])})")
    bad = h < lo
    if bad.any():
        i = _first(bad)
        raise CandleError(f"row {i}: high {float(h[i])} < low {float(lo[i])}")
    bad = (o < lo) | (o > h) | (c < lo) | (c > h)
    if bad.any():
        i = _first(bad)
        raise CandleError(
            f"row {i}: open {float(o[i])} / close {float(c[i])} outside [low {float(lo[i])}, high {float(h[i])}]"
        )
    if ts.shape[0] > 1:
        step = np.diff(ts)
        if (step == 0).any():
            i = _first(step == 0) + 1
            raise CandleError(f"row {i}: duplicate timestamp {int(ts[i])} (same as row {i - 1})")
        if (step < 0).any():
            i = _first(step < 0) + 1
            raise CandleError(f"row {i}: timestamp {int(ts[i])} is before row {i - 1}'s {int(ts[i - 1])}")


def _repair(o: F64, h: F64, lo: F64, c: F64, v: F64, ts: I64) -> Candles:  # noqa: PLR0917
    notes: list[str] = []
    prices = np.vstack([o, h, lo, c, v])
    keep = np.isfinite(prices).all(axis=0) & (prices >= 0).all(axis=0)
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} rows with NaN / inf / negative values")
    rows = np.flatnonzero(keep)
    order = rows[np.argsort(ts[rows], kind="stable")]
    if (order != rows).any():
        notes.append("sorted rows by timestamp")
    t = ts[order]
    if t.shape[0] > 1:
        last = np.r_[t[1:] != t[:-1], True]
        if not last.all():
            notes.append(f"dropped {int((~last).sum())} duplicate timestamps (kept the last row)")
            order = order[last]
    p = prices[:, order]
    new_h = p[:4].max(axis=0)
    new_lo = p[:4].min(axis=0)
    fixed = int(((new_h != p[1]) | (new_lo != p[2])).sum())
    if fixed:
        notes.append(f"widened high/low of {fixed} rows to contain open, close")
    return Candles(
        open=np.ascontiguousarray(p[0]),
        high=np.ascontiguousarray(new_h),
        low=np.ascontiguousarray(new_lo),
        close=np.ascontiguousarray(p[3]),
        volume=np.ascontiguousarray(p[4]),
        ts_ms=np.ascontiguousarray(ts[order]),
        repairs=tuple(notes),
    )
