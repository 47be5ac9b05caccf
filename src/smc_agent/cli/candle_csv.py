"""Reading a candle CSV for `analyze` and `backtest`: one time column, OHLCV, checked or repaired.

The time column is the first of `timestamp_ms`, `ts_ms`, `timestamp`, `datetime_utc`, `datetime`, `date`,
`time`, `open_time` (any case). Numbers are epoch milliseconds; text is parsed as dates (UTC unless it
says otherwise; `2024.01.31` is read as `2024-01-31`). Times that look like epoch *seconds* of this century
are refused: read as milliseconds they would all fall in early 1970.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from smc_agent.smc.candles import COLUMNS, CandleError, Candles

TIME_COLUMNS = ("timestamp_ms", "ts_ms", "timestamp", "datetime_utc", "datetime", "date", "time", "open_time")
# epoch seconds of 2001-09-09 .. 5138: read as milliseconds, all of them fall in 1970 (Jan 12 .. Mar 3 1973)
_SECONDS = (1_000_000_000, 100_000_000_000)


def load_csv(path: Path, *, repair: bool) -> Candles:
    """The candles of ``path``; raises :class:`CandleError` naming the first bad row (or repairs it)."""
    frame = pd.read_csv(path)
    lower = {str(c).lower(): c for c in frame.columns}
    name = next((lower[k] for k in TIME_COLUMNS if k in lower), None)
    if name is None:
        raise CandleError(f"no time column: need one of {list(TIME_COLUMNS)}; have {list(frame.columns)}")
    column = frame[name]
    if column.isna().any():
        raise CandleError(f"row {int(np.argmax(column.isna().to_numpy()))}: empty {name}")
    if pd.api.types.is_numeric_dtype(column):
        ts = column.to_numpy(dtype=np.int64)
    else:
        raw = column.astype(str).str.replace(".", "-", n=2, regex=False)
        try:
            when = pd.to_datetime(raw, utc=True)
        except (ValueError, TypeError) as exc:
            raise CandleError(f"column {name}: not epoch milliseconds or dates ({exc})") from None
        ts = ((when - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.int64)
    if len(ts) and _SECONDS[0] <= int(ts.min()) and int(ts.max()) < _SECONDS[1]:
        raise CandleError(
            f"column {name}: times look like epoch seconds (first {int(ts[0])}); expected epoch milliseconds"
        )
    data = frame.drop(columns=[name]).assign(timestamp_ms=ts)
    if repair:  # text where a number belongs becomes NaN: its row is then dropped like any non-finite one
        numeric = [c for c in data.columns if str(c).lower() in COLUMNS]
        data[numeric] = data[numeric].apply(pd.to_numeric, errors="coerce")
        return Candles.from_frame(data, repair=True)
    try:
        return Candles.from_frame(data)
    except CandleError as exc:
        raise CandleError(f"{exc} (--repair drops or fixes bad rows and says what it did)") from None
