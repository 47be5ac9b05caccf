"""Causal aggregation of base-timeframe candles into a higher timeframe.

A higher-timeframe candle is emitted together with the base candle that closes it; when data has a
gap, the incomplete bucket is emitted as soon as a candle of a later bucket arrives (it is then
known to be closed). Never emits a candle before its bucket ended, nor the bucket the first candle
fed falls in when that candle is not its first (data starting at 18:00 has no day candle for that day).

Buckets are cut in UTC as the exchanges cut their candles: timeframes up to days on the grid
counted from the Unix epoch (``t - t % tf``), weeks from Monday 00:00 (ISO weeks; the epoch was a
Thursday), months (``1M``, ``3M``: n-month blocks from January) from the first of the month.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_NOTHING: tuple[None, None] = (None, None)
_DAY_MS = 86_400_000
WEEK_ANCHOR_MS = 4 * _DAY_MS  # 1970-01-05 00:00 UTC, the first Monday: weekly buckets start there
# a time (ms UTC) or an array of them: the bucket rules below are integer arithmetic on either
_T = TypeVar("_T", int, "npt.NDArray[np.int64]")


def _month_of(t: _T) -> _T:
    """The month (counted from January 1970) of UTC time ``t`` ms (civil-from-days, H. Hinnant)."""
    z = t // _DAY_MS + 719_468  # days since 0000-03-01
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    month: _T = (era * 400 + yoe) * 12 + (5 * doy + 2) // 153 - 23_638  # 23638: 0000-03 to 1970-01
    return month


def _month_start(month: _T) -> _T:
    """The UTC time in ms at which ``month`` (counted from January 1970) starts (days-from-civil)."""
    k = month + 23_638  # months since 0000-03 (years run March to February)
    year = k // 12
    era = year // 400
    yoe = year - era * 400
    doe = yoe * 365 + yoe // 4 - yoe // 100 + (153 * (k - year * 12) + 2) // 5
    start: _T = (era * 146_097 + doe - 719_468) * _DAY_MS
    return start


class CandleAggregator:
    __slots__ = (
        "_bucket",
        "_c",
        "_end",
        "_h",
        "_l",
        "_last",
        "_o",
        "_partial",
        "_v",
        "anchor_ms",
        "base_ms",
        "months",
        "tf_ms",
        "timeframe",
    )

    def __init__(self, base_timeframe: str, timeframe: str) -> None:
        self.base_ms = timeframe_ms(base_timeframe)
        self.tf_ms = timeframe_ms(timeframe)  # nominal (30 days a month) when ``months``
        self.timeframe = timeframe
        # months: n of an n-month timeframe (calendar buckets), else 0; anchor_ms: a bucket start
        self.months = self.tf_ms // timeframe_ms("1M") if timeframe.endswith("M") else 0
        self.anchor_ms = WEEK_ANCHOR_MS if timeframe.endswith("w") else 0
        if base_timeframe.endswith("M"):
            raise ConfigError(
                f"base timeframe {base_timeframe} is calendar months (no fixed length): run the strategy on "
                "candles of a timeframe up to 1w"
            )
        base_anchor = WEEK_ANCHOR_MS if base_timeframe.endswith("w") else 0
        if self.months:
            if _DAY_MS % self.base_ms:
                raise ConfigError(
                    f"higher timeframe {timeframe} is calendar months: the base timeframe must divide a day "
                    f"(e.g. 1d, 4h, 1h, 15m), not {base_timeframe}"
                )
        elif self.tf_ms <= self.base_ms or self.tf_ms % self.base_ms:
            raise ConfigError(
                f"higher timeframe {timeframe} must be a multiple of, and longer than, the base timeframe "
                f"{base_timeframe}: run the strategy on candles of a lower timeframe"
            )
        elif (self.anchor_ms - base_anchor) % self.base_ms:
            raise ConfigError(
                f"higher timeframe {timeframe} starts on Monday 00:00 UTC, which is not on the grid of the "
                f"base timeframe {base_timeframe}: use a base timeframe dividing a day"
            )
        self._bucket = -1
        # the open bucket is [_bucket, _end); _last: open time of the candle that completes it
        self._end = self._last = -1
        self._o = self._h = self._l = self._c = self._v = 0.0
        # the open bucket began before the first candle fed (data or a back-fill starting mid-bucket):
        # never emitted, as its open, extremes and volume would miss what came before
        self._partial: bool | None = None  # None until the first candle

    def bucket_bounds(self, t: _T) -> tuple[_T, _T]:
        """(start, end) in ms UTC of the bucket holding open time ``t`` (or of each of an array's)."""
        if self.months:
            first = _month_of(t)
            first -= first % self.months
            return _month_start(first), _month_start(first + self.months)
        start = t - (t - self.anchor_ms) % self.tf_ms
        return start, start + self.tf_ms

    def update(self, candle: Candle) -> tuple[Candle | None, Candle | None]:
        """Feed one base candle; returns (candle of a bucket closed by a gap, candle closed by this one)."""
        _, _, _, t, o, h, low, c, v = candle  # one unpack instead of an attribute lookup per field
        if self._bucket <= t < self._end:  # the usual case: a candle of the open bucket
            # same as max()/min(): keep the current extreme unless the new one is strictly beyond
            if h > self._h:  # noqa: PLR1730 - no call on the per-candle path
                self._h = h
            if low < self._l:  # noqa: PLR1730
                self._l = low
            self._c = c
            self._v += v
            if t == self._last:
                done = self._emit(candle)
                self._bucket = self._end = self._last = -1
                return None, done
            return _NOTHING
        bucket, end = self.bucket_bounds(t)
        stale: Candle | None = None
        if self._bucket >= 0:  # a candle of another bucket: the open one was cut short by a gap
            stale = self._emit(candle)
        self._partial = self._partial is None and t != bucket
        self._bucket = bucket
        self._end = end
        self._last = end - self.base_ms
        self._o, self._h, self._l, self._c, self._v = o, h, low, c, v
        if t == self._last:
            done = self._emit(candle)
            self._bucket = self._end = self._last = -1
            return stale, done
        return _NOTHING if stale is None else (stale, None)

    def _emit(self, like: Candle) -> Candle | None:
        if self._partial:
            return None
        return Candle(
            like.venue, like.symbol, self.timeframe, self._bucket, self._o, self._h, self._l, self._c, self._v
        )
