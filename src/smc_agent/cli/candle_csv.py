"""Reading a candle CSV for `analyze` and `backtest`: one time column, OHLCV, checked or repaired.

The time column is the first of `timestamp_ms`, `ts_ms`, `timestamp`, `datetime_utc`, `datetime`, `date`,
`time`, `open_time` (any case). Numbers are epoch milliseconds; text is parsed as dates (UTC unless it
says otherwise; `2024.01.31` is read as `2024-01-31`). Times that look like epoch *seconds* of this century
are refused: read as milliseconds they would all fall in early 1970; so are micro- and nanoseconds.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from smc_agent.smc.candles import COLUMNS, CandleError, Candles

TIME_COLUMNS = ("timestamp_ms", "ts_ms", "timestamp", "datetime_utc", "datetime", "date", "time", "open_time")
# epoch seconds of 2001-09-09 .. 5138: read as milliseconds, all of them fall in 1970 (Jan 12 .. Mar 3 1973)
_SECONDS = (1_000_000_000, 100_000_000_000)
_MICROS = 100_000_000_000_000  # epoch ms of the year 5138: anything above is micro- or nanoseconds
_DOTTED_DATE = r"^(\d{4})\.(\d{1,2})\.(\d{1,2})"  # 2024.01.31 (MetaTrader exports), the date part only
_LINE = re.compile(r"^row (\d+):")  # the SMC checks count data rows from 0
_AMBIGUOUS_DATE = r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"  # 01/02/2024: day or month first?


def load_csv(path: Path, *, repair: bool) -> Candles:
    """The candles of ``path``; raises :class:`CandleError` naming the first bad row (or repairs it)."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CandleError(f"not a readable CSV: {' '.join(str(exc).split())}") from None
    if frame.empty:
        raise CandleError("the file has no candle rows")
    lower = {str(c).lower(): c for c in frame.columns}
    name = next((lower[k] for k in TIME_COLUMNS if k in lower), None)
    if name is None:
        raise CandleError(f"no time column: need one of {list(TIME_COLUMNS)}; have {list(frame.columns)}")
    notes: list[str] = []
    empty = frame[name].isna()
    if empty.any():
        if not repair:
            raise _located(CandleError(f"row {int(np.argmax(empty.to_numpy()))}: empty {name}"))
        frame = frame[~empty]
        notes.append(f"dropped {int(empty.sum())} rows without a time")
    if "volume" not in lower:  # a volume cap, volume-weighted SMC figures: never silently zero
        raise CandleError(
            f"no volume column: need open, high, low, close, volume; have {list(frame.columns)}"
        )
    ts = _epoch_ms(frame[name], name)
    data = frame.drop(columns=[name]).assign(timestamp_ms=ts)
    if repair:  # text where a number belongs becomes NaN: its row is then dropped like any non-finite one
        numeric = [c for c in data.columns if str(c).lower() in COLUMNS]
        data[numeric] = data[numeric].apply(pd.to_numeric, errors="coerce")
        repaired = Candles.from_frame(data, repair=True)
        return dataclasses.replace(repaired, repairs=(*notes, *repaired.repairs))
    try:
        return Candles.from_frame(data)
    except CandleError as exc:
        raise _located(exc) from None


def _epoch_ms(column: pd.Series, name: str) -> npt.NDArray[np.int64]:
    ts: npt.NDArray[np.int64]
    if pd.api.types.is_numeric_dtype(column):
        values = np.asarray(column, dtype=np.float64)
        # 1e30 cast to int64 became -2**63 (a numpy warning, and the next row was blamed): refused here
        wild = ~np.isfinite(values) | (np.abs(values) >= 2.0**62) | (values < 0)
        if wild.any():
            row = int(np.argmax(wild))
            raise CandleError(
                f"column {name}: row {row} (line {row + 2} of the file): {values[row]:g} is not a time "
                "(expected epoch milliseconds)"
            )
        ts = np.asarray(column, dtype=np.int64)
    else:
        raw = column.astype(str).str.replace(_DOTTED_DATE, r"\1-\2-\3", regex=True)
        when = _one_format(raw, name)
        ts = np.asarray((when - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1), dtype=np.int64)
    for unit, off in (
        ("seconds", (ts >= _SECONDS[0]) & (ts < _SECONDS[1])),
        ("micro- or nanoseconds", ts >= _MICROS),
    ):
        if off.any():  # row by row: a file half in seconds, half in milliseconds is refused too
            row = int(np.argmax(off))
            raise CandleError(
                f"column {name}: row {row} (line {row + 2} of the file): {int(ts[row])} looks like epoch "
                f"{unit}; expected epoch milliseconds"
            )
    return ts


def _one_format(raw: pd.Series, name: str) -> pd.Series:
    """The dates of a text column, all read in one format: inferred from the first row, else day
    first (13/01/2024); row by row only where no date is ambiguous between day and month first (read
    row by row, 02/01/2024 and 13/01/2024 would be read in different orders)."""
    for dayfirst in (False, True):
        try:
            return pd.to_datetime(raw, utc=True, dayfirst=dayfirst)
        except (ValueError, TypeError):
            continue
    if raw.str.match(_AMBIGUOUS_DATE).any():
        raise CandleError(
            f"column {name}: dates in more than one format, some with day and month in either order "
            "(01/02/2024): write ISO dates (2024-02-01 00:00) or epoch milliseconds"
        )
    try:
        return pd.to_datetime(raw, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise CandleError(f"column {name}: not epoch milliseconds or dates ({exc})") from None


def wrong_epoch_unit(low: int, high: int) -> str | None:
    """``"seconds"`` or ``"micro- or nanoseconds"`` when epoch times from ``low`` to ``high`` are plainly
    not milliseconds; ``None`` when they may be."""
    if _SECONDS[0] <= low and high < _SECONDS[1]:
        return "seconds"
    if high >= _MICROS:
        return "micro- or nanoseconds"
    return None


def _located(exc: CandleError) -> CandleError:
    """The error with the row's line in the file (line 1 is the header) and what ``--repair`` would do."""
    text = _LINE.sub(lambda m: f"row {m[1]} (line {int(m[1]) + 2} of the file):", str(exc), count=1)
    return CandleError(f"{text} (--repair drops or fixes bad rows and says what it did)")
