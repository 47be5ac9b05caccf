"""Input validation names the first bad row; the opt-in repair fixes what it says it fixed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smc_agent.smc.candles import CandleError, Candles


def _frame(**overrides: list[float]) -> pd.DataFrame:
    data = {
        "timestamp_ms": [0, 60_000, 120_000, 180_000],
        "open": [10.0, 11.0, 12.0, 13.0],
        "high": [11.0, 12.0, 13.0, 14.0],
        "low": [9.0, 10.0, 11.0, 12.0],
        "close": [11.0, 12.0, 13.0, 13.5],
        "volume": [1.0, 2.0, 3.0, 4.0],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def test_good_frame_round_trips() -> None:
    c = Candles.from_frame(_frame())
    assert len(c) == 4
    assert c.ts_ms.tolist() == [0, 60_000, 120_000, 180_000]
    assert c.repairs == ()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"close": [11.0, float("nan"), 13.0, 13.5]}, r"row 1: close is not a finite number"),
        ({"low": [9.0, 10.0, -11.0, 12.0]}, r"row 2: low is negative"),
        ({"high": [11.0, 12.0, 13.0, 11.0]}, r"row 3: high 11.0 < low 12.0"),
        ({"open": [10.0, 12.5, 12.0, 13.0]}, r"row 1: open 12.5 / close 12.0 outside"),
        ({"timestamp_ms": [0, 60_000, 60_000, 180_000]}, r"row 2: duplicate timestamp 60000"),
        ({"timestamp_ms": [0, 120_000, 60_000, 180_000]}, r"row 2: timestamp 60000 is before row 1"),
    ],
)
def test_first_bad_row_is_named(overrides: dict[str, list[float]], message: str) -> None:
    with pytest.raises(CandleError, match=message):
        Candles.from_frame(_frame(**overrides))


def test_missing_column_is_named() -> None:
    with pytest.raises(CandleError, match=r"missing columns \['low'\]"):
        Candles.from_frame(_frame().drop(columns=["low"]))


def test_repair_drops_sorts_dedups_and_widens() -> None:
    frame = _frame(
        timestamp_ms=[120_000, 0, 60_000, 60_000],
        close=[13.0, 11.0, float("nan"), 12.5],
        high=[13.0, 11.0, 12.0, 12.0],
    )
    frame.loc[3, "high"] = 11.5  # below its close 12.5: widened
    c = Candles.from_frame(frame, repair=True)
    assert c.ts_ms.tolist() == [0, 60_000, 120_000]
    assert c.close.tolist() == [11.0, 12.5, 13.0]
    assert c.high.tolist() == [11.0, 13.0, 13.0]
    assert c.low.tolist() == [10.0, 11.5, 9.0]
    assert any("dropped 1 rows with NaN" in r for r in c.repairs)
    assert "sorted rows by timestamp" in c.repairs
    assert any("widened" in r for r in c.repairs)
    Candles.from_arrays(open=c.open, high=c.high, low=c.low, close=c.close, volume=c.volume, ts_ms=c.ts_ms)


def test_datetime_index_is_used_when_no_timestamp_column() -> None:
    frame = _frame().drop(columns=["timestamp_ms"])
    frame.index = pd.date_range("2024-01-01", periods=4, freq="min")
    c = Candles.from_frame(frame)
    assert int(c.ts_ms[0]) == 1_704_067_200_000
    assert np.all(np.diff(c.ts_ms) == 60_000)
