"""Weekly and monthly higher timeframes are cut like exchange candles: weeks from Monday 00:00 UTC,
months from the first of the month (UTC); streaming and vectorised aggregation agree on them."""

from __future__ import annotations

import operator
from functools import partial, reduce

import numpy as np
import pandas as pd
import pytest

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.smc_replay import aggregate
from smc_agent.core.candle import Candle
from smc_agent.core.errors import ConfigError
from smc_agent.engine.aggregator import CandleAggregator
from tests._shared import shared_file

_COLUMNS = ["open_time", "open", "high", "low", "close", "volume"]
_HOUR = 3_600_000


def _load(bundle: str, filename: str, timeframe: str) -> CandleData:
    frame = pd.read_csv(shared_file("ohlcv", bundle, filename))
    return CandleData.from_frame(frame, venue="binance", symbol="BTC/USDT", timeframe=timeframe)


def _daily() -> CandleData:
    return _load("binance_2017_2025", "binance_spot_BTCUSDT_1d.csv", "1d")


def _hourly() -> CandleData:
    return _load("binance_2017_2020", "binance_spot_BTCUSDT_1h.csv", "1h")


def _candles(data: CandleData) -> list[Candle]:
    return list(data.candles())


def _stream(data: CandleData, timeframe: str) -> list[Candle]:
    agg = CandleAggregator(data.timeframe, timeframe)
    return [c for candle in _candles(data) for c in agg.update(candle) if c is not None]


def _rows(data: CandleData) -> list[tuple[float, ...]]:
    cols = (data.open_time, data.open, data.high, data.low, data.close, data.volume)
    return list(zip(*(c.tolist() for c in cols), strict=True))


def _frame(candles: list[Candle]) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(c)[3:] for c in candles], columns=_COLUMNS)
    return frame.set_index(pd.to_datetime(frame.pop("open_time"), unit="ms", utc=True))


def _resampled(data: CandleData, rule: str, per_bucket: pd.Series) -> pd.DataFrame:
    """pandas' OHLCV of each bucket holding exactly ``per_bucket`` base candles (complete ones)."""
    frame = pd.DataFrame(dict(zip(_COLUMNS, _rows_columns(data), strict=True)))
    frame = frame.set_index(pd.to_datetime(frame.pop("open_time"), unit="ms", utc=True))
    grouped = frame.resample(rule, label="left", closed="left")
    # volume: added in candle order, as the aggregator does (pandas' sum compensates rounding)
    volume = partial(reduce, operator.add)
    out = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": volume})
    count = grouped["open"].count()
    return out[count == per_bucket.reindex(out.index)]


def _rows_columns(data: CandleData) -> list[np.ndarray]:
    return [data.open_time, data.open, data.high, data.low, data.close, data.volume]


def test_weekly_on_daily_candles_equals_pandas_monday_weeks() -> None:
    data = _daily()
    got = _frame(_stream(data, "1w"))
    assert got.index[0].day_name() == "Monday"  # the data starts on a Thursday (2017-08-17)
    assert (got.index.dayofweek == 0).all() and (got.index.normalize() == got.index).all()
    want = _resampled(data, "W-MON", pd.Series(7, index=got.index))
    assert len(want) > 400
    complete = got.loc[want.index]
    pd.testing.assert_frame_equal(complete, want, check_exact=True, check_freq=False)
    # the vectorised replay builds the same weekly candles
    assert _rows(aggregate(data, "1w")) == [tuple(c)[3:] for c in _stream(data, "1w")]


def test_monthly_on_hourly_candles_equals_pandas_calendar_months() -> None:
    data = _hourly()
    stream = _stream(data, "1M")
    got = _frame(stream)
    assert (got.index.day == 1).all() and (got.index.normalize() == got.index).all()
    hours = pd.Series(got.index.days_in_month * 24, index=got.index)
    want = _resampled(data, "MS", hours)
    assert len(want) > 10
    assert {pd.Timestamp(m, tz="UTC") for m in ("2019-01-01", "2019-02-01")} <= set(want.index)
    pd.testing.assert_frame_equal(got.loc[want.index], want, check_exact=True, check_freq=False)
    assert _rows(aggregate(data, "1M")) == [tuple(c)[3:] for c in stream]


@pytest.mark.parametrize(("source", "timeframe"), [("1d", "1w"), ("1d", "1M"), ("1h", "1w"), ("1h", "3M")])
def test_stream_equals_vectorised_aggregate_with_gaps(source: str, timeframe: str) -> None:
    """Real candles with runs dropped (whole weeks and months too, and completing candles) and a
    trailing incomplete bucket: the aggregator and ``aggregate`` emit the same candles."""
    data = _daily() if source == "1d" else _hourly()
    rng = np.random.default_rng(11)
    n = len(data)
    keep = np.ones(n, dtype=bool)
    for start in rng.choice(n, size=25, replace=False):
        keep[start : start + int(rng.integers(1, 24 * 20 if source == "1h" else 40))] = False
    keep[-3:] = False
    cols = _rows_columns(data)
    gappy = CandleData(data.venue, data.symbol, data.timeframe, *(c[keep] for c in cols))
    expected = _stream(gappy, timeframe)
    assert len(expected) > 8
    assert _rows(aggregate(gappy, timeframe)) == [tuple(c)[3:] for c in expected]
    starts = pd.to_datetime([c.open_time for c in expected], unit="ms", utc=True)
    if timeframe == "1w":
        assert (starts.dayofweek == 0).all()
    else:
        assert (starts.day == 1).all() and ((starts.month - 1) % int(timeframe[0]) == 0).all()
    assert (starts.normalize() == starts).all()


def _hour_candles(start: str, hours: int) -> list[Candle]:
    t0 = int(pd.Timestamp(start, tz="UTC").value // 1_000_000)
    return [
        Candle("binance", "BTC/USDT", "1h", t0 + i * _HOUR, 10.0 + i, 20.0 + i, 5.0, 11.0 + i, 1.0)
        for i in range(hours)
    ]


def test_a_weekly_candle_is_emitted_with_sundays_last_candle() -> None:
    agg = CandleAggregator("1h", "1w")
    candles = _hour_candles("2024-01-01", 14 * 24)  # two weeks from Monday 2024-01-01
    out = [agg.update(c) for c in candles]
    emitted = [(i, done) for i, (stale, done) in enumerate(out) if done is not None]
    assert all(stale is None for stale, _ in out)
    assert [i for i, _ in emitted] == [7 * 24 - 1, 14 * 24 - 1]
    first = emitted[0][1]
    assert first is not None
    assert pd.Timestamp(candles[7 * 24 - 1].open_time, unit="ms", tz="UTC") == pd.Timestamp(
        "2024-01-07 23:00", tz="UTC"
    )
    assert first.open_time == candles[0].open_time and first.timeframe == "1w"
    assert (first.open, first.close, first.high, first.volume) == (10.0, 11.0 + 167, 20.0 + 167, 168.0)


def test_a_week_cut_short_by_a_gap_is_emitted_with_the_next_weeks_first_candle() -> None:
    agg = CandleAggregator("1h", "1w")
    candles = _hour_candles("2024-01-01", 12 * 24)  # Monday to Friday of the next week
    del candles[6 * 24 + 23]  # Sunday 2024-01-07 23:00 is missing
    out = [agg.update(c) for c in candles]
    monday = next(i for i, c in enumerate(candles) if c.open_time >= 1_704_672_000_000)  # 2024-01-08
    assert [i for i, (stale, done) in enumerate(out) if stale is not None or done is not None] == [monday]
    stale, done = out[monday]
    assert done is None and stale is not None and stale.open_time == 1_704_067_200_000  # Monday 01-01


def test_a_monthly_candle_is_emitted_with_the_months_last_candle() -> None:
    agg = CandleAggregator("1h", "1M")
    candles = _hour_candles("2024-02-01", (29 + 31) * 24)  # leap February and March
    emitted = [i for i, c in enumerate(candles) if agg.update(c)[1] is not None]
    assert emitted == [29 * 24 - 1, 60 * 24 - 1]


@pytest.mark.parametrize(
    ("base", "timeframe", "words"),
    [
        ("7h", "1w", "Monday"),  # 1w is a multiple of 7h, but Monday 00:00 is not on its grid
        ("1w", "1M", "divide a day"),
        ("3d", "1M", "divide a day"),
        ("1M", "3M", "calendar months"),
        ("1d", "1d", "longer than"),
    ],
)
def test_timeframes_that_cannot_be_cut_exactly_are_refused(base: str, timeframe: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        CandleAggregator(base, timeframe)


def test_weeks_on_weekly_candles_and_days_keep_their_epoch_grid() -> None:
    assert CandleAggregator("1w", "2w").bucket_bounds(1_704_067_200_000 + 7 * 86_400_000)[0] % (
        14 * 86_400_000
    ) == (4 * 86_400_000)
    agg = CandleAggregator("1h", "3d")  # days are unchanged: blocks counted from the epoch
    t = 1_704_067_200_000
    assert agg.bucket_bounds(t) == (t - t % (3 * 86_400_000), t - t % (3 * 86_400_000) + 3 * 86_400_000)


def test_no_candle_for_a_bucket_the_data_starts_in_the_middle_of() -> None:
    """Data from 18:00: the "1d" candle of that day had the open of 18:00 and a quarter of its volume
    (a strategy took it for the day); the aggregator and the replay's vectorised copy both skip it."""
    candles = _hour_candles("2024-01-01 18:00", 6 + 24 + 24)  # to 2024-01-03 23:00
    agg = CandleAggregator("1h", "1d")
    days = [done for c in candles if (done := agg.update(c)[1]) is not None]
    jan2, jan3 = 1_704_153_600_000, 1_704_240_000_000
    assert [(d.open_time, d.volume, d.open) for d in days] == [(jan2, 24.0, 16.0), (jan3, 24.0, 40.0)]
    cols = list(zip(*candles, strict=True))
    data = CandleData(
        "sim", "BTC/USDT", "1h", np.asarray(cols[3]), *(np.asarray(cols[k]) for k in range(4, 9))
    )
    assert aggregate(data, "1d").open_time.tolist() == [jan2, jan3]
    assert aggregate(data.between(jan2, None), "1d").open_time.tolist() == [jan2, jan3]  # from its start
