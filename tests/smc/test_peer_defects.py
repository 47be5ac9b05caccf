"""Each documented defect of smartmoneyconcepts 0.0.27 (docs/smc.md, "Peer defects"): the installed
peer's output shown wrong on a concrete input, next to what our causal functions give."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from smc_agent.smc import batch
from smc_agent.smc.candles import Candles
from smc_agent.smc.compat import smc as compat
from smc_agent.smc.config import SessionSpec, SMCConfig
from tests._shared import shared_file

from ._gen import as_known_at

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from smartmoneyconcepts.smc import smc as peer


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    df = pd.read_csv(shared_file("ohlcv", "binance_2024", "binance_spot_BTCUSDT_5m.csv"), nrows=3000)
    df.index = pd.to_datetime(df["timestamp_ms"], unit="ms")
    return df[["open", "high", "low", "close", "volume"]]


def _candles(df: pd.DataFrame) -> Candles:
    return Candles.from_frame(df)


def test_swings_last_row_is_always_a_swing_and_past_rows_repaint(btc: pd.DataFrame) -> None:
    for stop in (500, 777, 1234):
        part = peer.swing_highs_lows(btc.iloc[:stop].copy(), swing_length=5)
        assert not np.isnan(part["HighLow"].iloc[-1])  # look-ahead: the last row of any call is a swing
        ours = batch.swings(_candles(btc.iloc[:stop]), SMCConfig(swing_length=5))
        assert (ours.confirmed_at - ours.formed_at == 5).all()  # a pivot is known 5 bars later, never sooner
        assert ours.formed_at.max() <= stop - 1 - 5


def test_fvg_is_written_on_the_middle_candle_with_the_next_candle(btc: pd.DataFrame) -> None:
    full = peer.fvg(btc.copy())
    row = int(np.flatnonzero(~np.isnan(full["FVG"].to_numpy()))[0])
    upto_row = peer.fvg(btc.iloc[: row + 1].copy())
    assert np.isnan(upto_row["FVG"].iloc[row])  # not knowable at its own row: needs candle row + 1
    ours = batch.fvgs(_candles(btc))
    assert ((ours.confirmed_at - ours.formed_at) == 1).all()
    assert row in ours.formed_at.tolist()


def _changed_rows(fn: object, df: pd.DataFrame, stop: int) -> float:
    """Share of signal rows before `stop` that differ between a run on df[:stop] and on all of df."""
    part = fn(df.iloc[:stop].copy())  # type: ignore[operator]
    full = fn(df.copy()).iloc[:stop]  # type: ignore[operator]
    a, b = part.to_numpy(dtype=float), full.to_numpy(dtype=float)
    signal = ~np.isnan(a[:, 0]) | ~np.isnan(b[:, 0])
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)
    return float((differ & signal).sum() / max(1, signal.sum()))


def test_bos_choch_and_ob_repaint_history(btc: pd.DataFrame) -> None:
    def bos(df: pd.DataFrame) -> pd.DataFrame:
        return peer.bos_choch(df, peer.swing_highs_lows(df.copy(), 5))

    def ob(df: pd.DataFrame) -> pd.DataFrame:
        return peer.ob(df, peer.swing_highs_lows(df.copy(), 5))

    assert _changed_rows(bos, btc, 2000) > 0.0  # past rows change when data is appended
    assert _changed_rows(ob, btc, 2000) > 0.0
    c = _candles(btc)
    full, part = batch.analyze(c), batch.analyze(c.slice(2000))
    for name in ("breaks", "order_blocks"):
        assert getattr(part, name).rows() == as_known_at(getattr(full, name), 1999)


def test_bos_signal_is_written_long_before_it_is_final(btc: pd.DataFrame) -> None:
    res = peer.bos_choch(btc.copy(), peer.swing_highs_lows(btc.copy(), 5))
    rows = np.flatnonzero(~np.isnan(res["BOS"].to_numpy()) | ~np.isnan(res["CHOCH"].to_numpy()))
    delay = res["BrokenIndex"].to_numpy()[rows] - rows
    assert np.median(delay) > 5  # the signal sits on a past swing row, known only at the break
    ours = batch.structure(_candles(btc))
    assert (ours.confirmed_at > ours.swing_at).all()  # ours: reported on the breaking bar


def test_liquidity_tolerance_uses_the_whole_input(btc: pd.DataFrame) -> None:
    """Appending later candles (a wider high-low range) changes the peer's past liquidity rows."""
    assert _changed_rows(lambda d: peer.liquidity(d, peer.swing_highs_lows(d.copy(), 5)), btc, 1500) > 0.0
    c = _candles(btc)
    full, part = batch.liquidity(c), batch.liquidity(c.slice(1500))
    assert part.level.tolist() == full.level[full.confirmed_at < 1500].tolist()


def _weekly_hours() -> pd.DataFrame:
    """Hourly candles over 5 weeks (Mon 2024-01-01 ..), week k trades around 100 * (k + 1)."""
    index = pd.date_range("2024-01-01", periods=24 * 7 * 5, freq="h")
    week = (np.arange(len(index)) // (24 * 7)).astype(float)
    base = 100.0 * (week + 1)
    return pd.DataFrame(
        {"open": base, "high": base + 1, "low": base - 1, "close": base, "volume": 1.0}, index=index
    )


def test_previous_high_low_weekly_returns_the_week_two_back() -> None:
    df = _weekly_hours()
    out = peer.previous_high_low(df.copy(), time_frame="W")
    tuesday_week3 = df.index.get_loc(pd.Timestamp("2024-01-23 12:00"))
    assert out["PreviousHigh"].iloc[tuesday_week3] == 201.0  # week 1's high; week 2's is 301
    ours = batch.previous_high_low(_candles(df))["W"]
    assert ours.previous_high[tuesday_week3] == 301.0


def test_previous_high_low_daily_first_candle_of_day_gets_two_days_back() -> None:
    index = pd.date_range("2024-01-01", periods=24 * 4, freq="h")
    base = 100.0 * (np.arange(len(index)) // 24 + 1).astype(float)
    df = pd.DataFrame(
        {"open": base, "high": base + 1, "low": base - 1, "close": base, "volume": 1.0}, index=index
    )
    out = peer.previous_high_low(df.copy(), time_frame="1D")
    midnight_day3 = 48
    assert out["PreviousHigh"].iloc[midnight_day3] == 101.0  # day 1's high, not day 2's (201)
    assert out["PreviousHigh"].iloc[midnight_day3 + 1] == 201.0
    assert batch.previous_high_low(_candles(df))["D"].previous_high[midnight_day3] == 201.0


def test_sessions_utc_plus_n_is_read_as_utc_minus_n() -> None:
    """Candles stamped in UTC+2 local time: 09:00 local is 07:00 UTC, inside 07:00-07:30 UTC."""
    index = pd.DatetimeIndex([pd.Timestamp("2024-01-10 09:00")])
    df = pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]}, index=index)
    out = peer.sessions(df.copy(), "Custom", start_time="07:00", end_time="07:30", time_zone="UTC+2")
    assert out["Active"].iloc[0] == 0  # the peer computed 11:00 UTC
    ts = int(pd.Timestamp("2024-01-10 07:00", tz="UTC").value // 1_000_000)
    candles = Candles.from_arrays(open=[1.0], high=[1.0], low=[1.0], close=[1.0], ts_ms=[ts])
    config = SMCConfig(sessions=(SessionSpec("early", "Etc/GMT-2", "09:00", "09:30"),))  # POSIX sign: UTC+2
    assert batch.sessions(candles, config)["early"].active.tolist() == [True]


def test_sessions_have_no_dst() -> None:
    """Peer "London" is 07:00-16:00 UTC all year; the London open is 08:00 local (07:00 UTC only in BST)."""
    index = pd.DatetimeIndex([pd.Timestamp("2024-01-10 07:00"), pd.Timestamp("2024-07-10 07:00")])
    df = pd.DataFrame(
        {"open": [1.0, 1.0], "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 1.0]}, index=index
    )
    assert peer.sessions(df.copy(), "London")["Active"].tolist() == [1, 1]
    candles = Candles.from_frame(df)
    config = SMCConfig(sessions=(SessionSpec("London", "Europe/London", "08:00", "16:30"),))
    assert batch.sessions(candles, config)["London"].active.tolist() == [False, True]


def _ob_frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Swing high at row 2, break up at row 6 (block = row 4), then price falls through the block."""
    rows = [  # open, high, low, close
        (1.10, 1.11, 1.09, 1.10),
        (1.10, 1.12, 1.10, 1.11),
        (1.11, 1.15, 1.11, 1.14),
        (1.14, 1.14, 1.12, 1.125),
        (1.125, 1.13, 1.1123456789, 1.12),
        (1.12, 1.14, 1.12, 1.135),
        (1.135, 1.16, 1.13, 1.155),
        (1.155, 1.165, 1.14, 1.16),
        (1.16, 1.16, 1.10, 1.105),
        (1.105, 1.106, 1.09, 1.10),
    ]
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close"])
    df["volume"] = 1.0
    df.index = pd.date_range("2024-01-01", periods=len(df), freq="min")
    shl = pd.DataFrame({"HighLow": [np.nan] * len(df), "Level": [np.nan] * len(df)})
    shl.loc[2, ["HighLow", "Level"]] = [1.0, 1.15]
    return df, shl


def test_ob_prices_are_float32_and_bullish_mitigation_index_is_one_bar_early() -> None:
    df, shl = _ob_frame()
    out = peer.ob(df.copy(), shl)
    assert out["OB"].iloc[4] == 1.0
    assert float(out["Bottom"].iloc[4]) != 1.1123456789  # float32-rounded price
    assert out["Bottom"].iloc[4] == np.float32(1.1123456789)
    assert out["MitigatedIndex"].iloc[4] == 7.0  # the low went below the block on row 8, not 7
    assert compat.ob(df, shl)["MitigatedIndex"].iloc[4] == 7.0  # compat reproduces it for migration
    ours = batch.order_blocks(Candles.from_frame(df), SMCConfig(swing_length=2, sessions=()))
    assert ours.bottom.tolist() == [1.1123456789]
    assert ours.invalidated_at.tolist() == [8]
