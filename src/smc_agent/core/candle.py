"""Candles and timeframes.

OHLCV are ``float``: candles feed float indicators (SMC, moving averages) and are never money in
themselves. A price becomes ``Decimal`` when it enters an order. ``open_time`` is the candle's
**open** time in ms UTC; a candle is *closed* at ``open_time + timeframe_ms``.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

_TF_RE = re.compile(r"^(\d+)([smhdwM])$")
_UNIT_MS = {
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "M": 2_592_000_000,  # 30 days: months are nominal, only used for sizing windows
}


def timeframe_ms(timeframe: str) -> int:
    """``"5m"`` -> 300000. Raises ``ValueError`` naming the bad timeframe."""
    match = _TF_RE.match(timeframe)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"bad timeframe {timeframe!r}: expected e.g. 1m, 5m, 15m, 1h, 4h, 1d, 1w")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


class Candle(NamedTuple):
    """One closed OHLCV candle of ``symbol`` on ``venue`` at ``timeframe``.

    A ``NamedTuple`` (immutable, cheap to create: the engine builds one per candle on the hot path).
    """

    venue: str
    symbol: str
    timeframe: str
    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def close_time(self) -> int:
        """First millisecond after the candle (when it becomes known)."""
        return self.open_time + timeframe_ms(self.timeframe)

    def validate(self) -> None:
        """Raise ``ValueError`` naming what makes this candle impossible: a price or volume that is
        not a finite number, a price that is not positive, a negative volume, open or close outside
        ``[low, high]``."""
        what = f"candle {self.symbol}@{self.venue} {self.timeframe} at {self.open_time}"
        values = (self.open, self.high, self.low, self.close, self.volume)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{what}: not a finite number in {values}")
        if min(self.open, self.high, self.low, self.close) <= 0:
            raise ValueError(f"{what}: a price that is not positive in {values[:4]}")
        if not (self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close)):
            raise ValueError(
                f"{what}: OHLC violation o={self.open} h={self.high} l={self.low} c={self.close}"
            )
        if self.volume < 0:
            raise ValueError(f"{what}: negative volume {self.volume}")
