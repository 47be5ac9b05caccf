"""Causal aggregation of base-timeframe candles into a higher timeframe.

A higher-timeframe candle is emitted together with the base candle that closes it; when data has a
gap, the incomplete bucket is emitted as soon as a candle of a later bucket arrives (it is then
known to be closed). Never emits a candle before its bucket ended.
"""

from __future__ import annotations

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.errors import ConfigError

_NOTHING: tuple[None, None] = (None, None)


class CandleAggregator:
    __slots__ = ("_bucket", "_c", "_end", "_h", "_l", "_last", "_o", "_v", "base_ms", "tf_ms", "timeframe")

    def __init__(self, base_timeframe: str, timeframe: str) -> None:
        self.base_ms = timeframe_ms(base_timeframe)
        self.tf_ms = timeframe_ms(timeframe)
        if self.tf_ms <= self.base_ms or self.tf_ms % self.base_ms:
            raise ConfigError(
                f"higher timeframe {timeframe} must be a multiple of, and longer than, the base timeframe "
                f"{base_timeframe}: run the strategy on candles of a lower timeframe"
            )
        self.timeframe = timeframe
        self._bucket = -1
        # the open bucket is [_bucket, _end); _last: open time of the candle that completes it
        self._end = self._last = -1
        self._o = self._h = self._l = self._c = self._v = 0.0

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
        tf = self.tf_ms
        bucket = t - t % tf
        stale: Candle | None = None
        if self._bucket >= 0:  # a candle of another bucket: the open one was cut short by a gap
            stale = self._emit(candle)
        self._bucket = bucket
        self._end = bucket + tf
        self._last = bucket + tf - self.base_ms
        self._o, self._h, self._l, self._c, self._v = o, h, low, c, v
        if t == self._last:
            done = self._emit(candle)
            self._bucket = self._end = self._last = -1
            return stale, done
        return _NOTHING if stale is None else (stale, None)

    def _emit(self, like: Candle) -> Candle:
        return Candle(
            like.venue, like.symbol, self.timeframe, self._bucket, self._o, self._h, self._l, self._c, self._v
        )
