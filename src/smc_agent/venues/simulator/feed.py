"""Replayed candle feeds and the simulator's market clock.

A feed is one CSV of closed candles (``timestamp_ms,datetime_utc,open,high,low,close,volume``).
The market clock holds the current *data* time; candles whose close lies at or before it are
closed, the one containing it is forming and shown partially (interpolated between open and
close by elapsed fraction, so no future extreme leaks). Visible timestamps are shifted by a fixed
offset so replayed history can be re-stamped to the present.
"""

from __future__ import annotations

import bisect
import csv
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

TIMEFRAME_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}

_FILE_RE = re.compile(r"_(?P<symbol>[A-Z0-9]+(?:_PERP)?)_(?P<tf>\d+[mhd])\.csv$")


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle in data time."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Trading rules for one simulated spot symbol."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal = Decimal("0.01")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_notional: Decimal = Decimal("5")


def spec_for(symbol: str) -> SymbolSpec:
    """Default spec for a symbol such as ``BTCUSDT`` (quote detected from common suffixes)."""
    for quote in ("USDT", "USDC", "BUSD", "BTC", "ETH"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return SymbolSpec(symbol=symbol, base=symbol[: -len(quote)], quote=quote)
    raise ValueError(f"cannot split symbol {symbol!r} into base and quote")


def parse_data_arg(arg: str) -> tuple[str, str, Path]:
    """Parse ``[SYMBOL[@TF]=]path.csv``; symbol and timeframe default to the file name.

    ``bybit_linear_perp_BTC_PERP_1h.csv`` is served as ``BTCUSDT``.
    """
    symbol: str | None = None
    tf: str | None = None
    if "=" in arg:
        head, _, arg = arg.partition("=")
        symbol, _, tf_part = head.partition("@")
        tf = tf_part or None
    path = Path(arg)
    match = _FILE_RE.search(path.name)
    if match:
        symbol = symbol or match["symbol"].replace("_PERP", "USDT")
        tf = tf or match["tf"]
    if not symbol or not tf:
        raise ValueError(f"cannot infer symbol/timeframe from {path.name!r}; use SYMBOL@TF=path")
    if tf not in TIMEFRAME_MS:
        raise ValueError(f"unsupported timeframe {tf!r} for {path.name}")
    venue_symbol = symbol.upper().replace("/", "")  # BTC/USDT is served as BTCUSDT (it made "BTC//USDT")
    if not venue_symbol.isalnum():
        raise ValueError(f"symbol {symbol!r}: expected letters and digits, e.g. BTCUSDT or BTC/USDT")
    return venue_symbol, tf, path


def load_bars(path: Path, limit: int | None = None) -> list[Bar]:
    """Read a candle CSV; rows are sorted and de-duplicated by open time."""
    if not path.is_file():
        raise FileNotFoundError(f"candle file not found: {path}")
    rows: dict[int, Bar] = {}
    with path.open(newline="") as fh:
        for line_no, row in enumerate(csv.DictReader(fh), start=2):
            try:
                ts = int(row["timestamp_ms"])
                rows[ts] = Bar(
                    ts,
                    Decimal(row["open"]),
                    Decimal(row["high"]),
                    Decimal(row["low"]),
                    Decimal(row["close"]),
                    Decimal(row["volume"]),
                )
            except (KeyError, ValueError, ArithmeticError) as exc:
                raise ValueError(f"{path}:{line_no}: bad candle row ({exc})") from exc
            if limit is not None and len(rows) >= limit:
                break
    return [rows[k] for k in sorted(rows)]


class Feed:
    """Candles of one symbol and timeframe, queried relative to the market clock."""

    def __init__(self, symbol: str, timeframe: str, bars: list[Bar]) -> None:
        if not bars:
            raise ValueError(f"feed {symbol} {timeframe} has no candles")
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = TIMEFRAME_MS[timeframe]
        self.bars = bars
        self._times = [b.open_time for b in bars]

    def closed_count(self, now: int) -> int:
        """Number of bars whose close time is at or before ``now`` (data time)."""
        return bisect.bisect_right(self._times, now - self.tf_ms)

    def closed_between(self, t0: int, t1: int) -> list[Bar]:
        """Bars that closed in the interval (t0, t1]."""
        return self.bars[self.closed_count(t0) : self.closed_count(t1)]

    def forming(self, now: int) -> Bar | None:
        """The bar containing ``now``, shown partially (no look-ahead)."""
        idx = self.closed_count(now)
        if idx >= len(self.bars) or self.bars[idx].open_time > now:
            return None
        bar = self.bars[idx]
        frac = Decimal(now - bar.open_time) / Decimal(self.tf_ms)
        close = bar.open + (bar.close - bar.open) * frac
        return Bar(
            bar.open_time,
            bar.open,
            max(bar.open, close),
            min(bar.open, close),
            close.quantize(Decimal("0.00000001")),
            (bar.volume * frac).quantize(Decimal("0.00000001")),
        )

    def last_price(self, now: int) -> Decimal:
        forming = self.forming(now)
        if forming is not None:
            return forming.close
        idx = max(self.closed_count(now) - 1, 0)
        return self.bars[idx].close

    def window(self, now: int, start: int | None, end: int | None, limit: int) -> list[Bar]:
        """Closed bars plus the forming one, filtered by data-time ``start``/``end``, at most ``limit``."""
        closed = self.closed_count(now)
        forming = self.forming(now)
        visible = closed + (forming is not None)
        lo = 0 if start is None else bisect.bisect_left(self._times, start, 0, visible)
        hi = visible if end is None else bisect.bisect_right(self._times, end, 0, visible)
        lo, hi = (max(lo, hi - limit), hi) if start is None else (lo, min(hi, lo + limit))
        bars = self.bars[lo:hi]
        if forming is not None and hi == visible and hi > lo:
            bars[-1] = forming
        return bars
