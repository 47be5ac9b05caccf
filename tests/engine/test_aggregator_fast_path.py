"""The aggregator's same-bucket fast path emits exactly what the plain bucket rule emits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.engine.aggregator import CandleAggregator


class _Reference:
    """The aggregator before the fast path: the bucket (``t - t % tf``) of every candle compared with
    the open one, the completing candle recognised by ``t + base == bucket + tf``; the bucket of the
    first candle is not emitted unless that candle opens it."""

    def __init__(self, base: str, timeframe: str) -> None:
        self.base_ms, self.tf_ms, self.timeframe = timeframe_ms(base), timeframe_ms(timeframe), timeframe
        self._bucket = -1
        self._o = self._h = self._l = self._c = self._v = 0.0
        self._seen = self._partial = False

    def update(self, candle: Candle) -> tuple[Candle | None, Candle | None]:
        _, _, _, t, o, h, low, c, v = candle
        tf = self.tf_ms
        bucket = t - t % tf
        stale = None
        if bucket != self._bucket:
            if self._bucket >= 0:
                stale = self._emit(candle)
            self._partial, self._seen = not self._seen and t != bucket, True
            self._bucket = bucket
            self._o, self._h, self._l, self._c, self._v = o, h, low, c, v
        else:
            if h > self._h:  # noqa: PLR1730 - the old code, verbatim
                self._h = h
            if low < self._l:  # noqa: PLR1730
                self._l = low
            self._c = c
            self._v += v
        if t + self.base_ms == bucket + tf:
            done = self._emit(candle)
            self._bucket = -1
            return stale, done
        return (None, None) if stale is None else (stale, None)

    def _emit(self, like: Candle) -> Candle | None:
        if self._partial:
            return None
        return Candle(
            like.venue, like.symbol, self.timeframe, self._bucket, self._o, self._h, self._l, self._c, self._v
        )


_price = st.floats(min_value=1.0, max_value=1e6, allow_nan=False) | st.sampled_from([float("nan"), 5.0])


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=120),
    offsets=st.lists(st.sampled_from([0, 0, 0, 60_000, 120_000]), min_size=120, max_size=120),
    prices=st.lists(st.tuples(_price, _price, _price, _price), min_size=120, max_size=120),
    start=st.integers(min_value=0, max_value=10**13),
    timeframe=st.sampled_from(["15m", "1h", "4h"]),
)
def test_fast_path_equals_the_bucket_rule(
    steps: list[int],
    offsets: list[int],
    prices: list[tuple[float, float, float, float]],
    start: int,
    timeframe: str,
) -> None:
    """Gaps of up to 40 bars, candles off the 5m grid, NaN and tied extremes, any start time."""
    fast, ref = CandleAggregator("5m", timeframe), _Reference("5m", timeframe)
    t = start - start % 300_000
    for i, step in enumerate(steps):
        t += step * 300_000
        o, h, low, c = prices[i]
        candle = Candle("binance", "BTC/USDT", "5m", t + offsets[i], o, h, low, c, float(i))
        got, want = fast.update(candle), ref.update(candle)
        assert repr(got) == repr(want)  # repr: NaN fields compare equal too
