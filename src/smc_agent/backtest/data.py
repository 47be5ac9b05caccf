"""Candles as columns (numpy) for backtests: what the runner iterates and the report plots.

No file I/O here (layer rule): build from a pandas DataFrame or arrays; the CLI reads files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from itertools import repeat

import numpy as np
import numpy.typing as npt
import pandas as pd

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.errors import DataError
from smc_agent.smc.candles import CandleError, Candles, validate

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CandleData:
    venue: str
    symbol: str
    timeframe: str
    open_time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64

    def __post_init__(self) -> None:
        n = len(self.open_time)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise DataError(f"column {name} has {len(getattr(self, name))} rows, open_time has {n}")
        timeframe_ms(self.timeframe)
        try:  # the SMC layer's OHLCV checks: a series a backtest would trade on silently wrong is refused
            validate(self.open, self.high, self.low, self.close, self.volume, self.open_time)
        except CandleError as exc:
            raise DataError(f"{self.symbol} {self.timeframe}: {exc}") from None
        for name in ("open", "high", "low", "close"):  # a price of 0 cannot be traded, sized or valued
            zero = getattr(self, name) == 0.0
            if zero.any():
                i = int(np.argmax(zero))
                raise DataError(
                    f"{self.symbol} {self.timeframe}: row {i}: {name} is 0 (a price must be positive)"
                )

    def candles(self, start: int = 0, stop: int | None = None) -> Iterator[Candle]:
        """Rows ``start:stop`` as :class:`Candle` objects, built in C (one tuple per candle, no keyword
        parsing): what the runner feeds the engine."""
        return map(
            partial(tuple.__new__, Candle),
            zip(
                repeat(self.venue),
                repeat(self.symbol),
                repeat(self.timeframe),
                self.open_time[start:stop].tolist(),
                self.open[start:stop].tolist(),
                self.high[start:stop].tolist(),
                self.low[start:stop].tolist(),
                self.close[start:stop].tolist(),
                self.volume[start:stop].tolist(),
                strict=False,
            ),
        )

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, venue: str, symbol: str, timeframe: str) -> CandleData:
        """From a frame with ``timestamp_ms`` (or ``open_time``) and ``open high low close volume``."""
        time_col = "timestamp_ms" if "timestamp_ms" in frame.columns else "open_time"
        missing = [c for c in (time_col, "open", "high", "low", "close", "volume") if c not in frame.columns]
        if missing:
            raise DataError(f"candle frame lacks column(s) {missing}; has {list(frame.columns)}")
        return cls(
            venue,
            symbol,
            timeframe,
            frame[time_col].to_numpy(dtype=np.int64),
            *(frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")),
        )

    @classmethod
    def from_smc(cls, candles: Candles, *, venue: str, symbol: str, timeframe: str) -> CandleData:
        """The same columns as the SMC layer's validated :class:`Candles` (a loaded or repaired CSV)."""
        c = candles
        return cls(venue, symbol, timeframe, c.ts_ms, c.open, c.high, c.low, c.close, c.volume)

    def to_smc(self) -> Candles:
        """These candles as the SMC batch functions take them."""
        return Candles.from_arrays(
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            ts_ms=self.open_time,
        )

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> CandleData:
        """Candles with ``start_ms <= open_time < end_ms``."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.open_time, start_ms, side="left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.open_time, end_ms, side="left"))
        return CandleData(
            self.venue,
            self.symbol,
            self.timeframe,
            self.open_time[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
        )

    def gaps(self) -> tuple[int, int, int]:
        """(gaps, candles missing in them, open time of the candle before the largest; -1 if none):
        where consecutive candles are more than one timeframe apart. Calendar months have no fixed
        length, so a ``1M`` series reports none."""
        if len(self) < 2 or self.timeframe == "1M":
            return 0, 0, -1
        missing = np.diff(self.open_time) // timeframe_ms(self.timeframe) - 1
        at = np.flatnonzero(missing > 0)
        if at.size == 0:
            return 0, 0, -1
        largest = int(at[np.argmax(missing[at])])
        return int(at.size), int(missing[at].sum()), int(self.open_time[largest])

    def price_increment(self) -> Decimal:
        """The largest decimal step that every open, high, low and close is a multiple of (a tick guess
        for CSV data; at most 8 places). A float is on the step when it is within rounding error
        (a few ulps) of one; an open off the step the closes imply fills on it, a wrong price."""
        prices = np.concatenate([self.open, self.high, self.low, self.close])
        for places in range(9):
            scaled = prices * 10.0**places
            if (np.abs(scaled - np.round(scaled)) <= 4 * np.spacing(np.abs(scaled)) + 1e-9).all():
                return Decimal(1).scaleb(-places)
        return Decimal("1e-8")
