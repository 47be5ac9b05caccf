"""Validation and repair of candles, every repair recorded."""

from __future__ import annotations

import csv
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.core.candle import Candle
from smc_agent.marketdata.repair import repair_candles
from tests._shared import shared_file

H = 3_600_000


def c(
    t: int, *, o: float = 10.0, h: float = 11.0, low: float = 9.0, cl: float = 10.5, v: float = 1.0
) -> Candle:
    return Candle("binance", "BTC/USDT", "1h", t, o, h, low, cl, v)


def test_clean_series_is_untouched() -> None:
    series = [c(i * H) for i in range(5)]
    result = repair_candles(series, "1h")
    assert result.candles == series and result.repairs == []


def test_duplicates_out_of_order_nan_ohlc_and_volume() -> None:
    series = [c(0), c(2 * H), c(H), c(H, cl=99.0), c(3 * H, h=10.0), c(4 * H, o=math.nan), c(5 * H, v=-1.0)]
    result = repair_candles(series, "1h")
    assert [x.open_time for x in result.candles] == [0, H, 2 * H, 3 * H, 5 * H]
    assert result.candles[1].close == 10.5  # the first of the duplicates is kept
    assert result.candles[3].high == 10.5  # widened to contain the close
    assert result.candles[4].volume == 0.0
    kinds = sorted(r.kind for r in result.repairs)
    assert kinds == sorted(
        ["out_of_order", "duplicate", "ohlc_violation", "non_finite", "negative_volume", "gap"]
    )
    gap = next(r for r in result.repairs if r.kind == "gap")
    assert gap.open_time == 4 * H


def test_gap_filling_is_recorded_per_candle() -> None:
    result = repair_candles([c(0), c(3 * H)], "1h", fill_gaps=True)
    assert [x.open_time for x in result.candles] == [0, H, 2 * H, 3 * H]
    assert result.candles[1].open == result.candles[1].close == 10.5 and result.candles[1].volume == 0
    assert result.count("gap_filled") == 2 and result.count("gap") == 1


def test_off_grid_candle_loses_to_on_grid_duplicate() -> None:
    result = repair_candles([c(H + 1_694_789, cl=1.0), c(H, cl=2.0)], "1h")
    assert [(x.open_time, x.close) for x in result.candles] == [(H, 2.0)]
    assert {r.kind for r in result.repairs} >= {"off_grid", "duplicate"}


def test_binance_feb_2018_outage_timestamps_are_snapped_onto_the_hour() -> None:
    path = shared_file("ohlcv", "binance_2017_2020", "binance_spot_BTCUSDT_1h.csv")
    with path.open() as fh:
        rows = [
            Candle(
                "binance",
                "BTC/USDT",
                "1h",
                int(r["timestamp_ms"]),
                float(r["open"]),
                float(r["high"]),
                float(r["low"]),
                float(r["close"]),
                float(r["volume"]),
            )
            for r in csv.DictReader(fh)
        ]
    odd = [r for r in rows if r.open_time % H]
    assert len(odd) == 43 and all(r.open_time % H == 28 * 60_000 + 14_789 for r in odd)
    result = repair_candles(rows, "1h")
    assert all(x.open_time % H == 0 for x in result.candles)
    assert result.count("off_grid") == 43 and result.count("duplicate") == 0
    assert len(result.candles) == len(rows)
    # 2018-02-09 09:28:14.789 became the 09:00 candle, its prices unchanged
    snapped = next(x for x in result.candles if x.open_time == 1_518_166_800_000)
    assert (snapped.open, snapped.close) == (7789.9, 8180.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.floats(1, 100), st.floats(-5, 5), st.booleans()), max_size=40)
)
def test_repaired_series_is_strictly_increasing_on_grid_and_valid(
    raw: list[tuple[int, float, float, bool]],
) -> None:
    series = [c(slot * H + (7 if off else 0), o=o, cl=o + d, h=o, low=o) for slot, o, d, off in raw]
    result = repair_candles(series, "1h")
    times = [x.open_time for x in result.candles]
    assert times == sorted(set(times))
    assert all(t % H == 0 for t in times)
    for x in result.candles:
        x.validate()


def test_candles_priced_at_zero_or_below_are_dropped_and_recorded() -> None:
    # a download stored them with no repair: a close of 0 or -5 that a backtest would then trade
    series = [
        c(0),
        c(H, o=0.0, h=0.0, low=0.0, cl=0.0),
        c(2 * H, o=-5.0, h=-5.0, low=-5.0, cl=-5.0),
        c(3 * H),
    ]
    result = repair_candles(series, "1h")
    assert [x.open_time for x in result.candles] == [0, 3 * H]
    assert [r.kind for r in result.repairs].count("non_positive") == 2
