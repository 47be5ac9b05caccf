"""Compatibility mode: value for value, NaN for NaN, against the peer's reference files and the
installed peer package (smartmoneyconcepts 0.0.27) on other data."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.smc.compat import smc as ours
from tests._shared import shared_file

from ._gen import random_candles

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from smartmoneyconcepts.smc import smc as peer


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns; per column identical NaN positions and identical values (at float32 precision
    where either side is float32, since the peer stores those columns as float32)."""
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for col in got.columns:
        a = got[col].to_numpy()
        b = expected[col].to_numpy()
        if np.float32 in (a.dtype, b.dtype):
            a, b = a.astype(np.float32), b.astype(np.float32)
        a, b = a.astype(np.float64), b.astype(np.float64)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        bad = (nan_a != nan_b) | (~nan_a & (a != b))
        assert not bad.any(), (
            f"{col}: first difference at row {int(np.argmax(bad))}: {a[bad][:3]} vs {b[bad][:3]}"
        )


@pytest.fixture(scope="module")
def eurusd() -> pd.DataFrame:
    frame = pd.read_csv(shared_file("smc_reference", "EURUSD_15M.csv")).set_index("Date")
    frame.index = pd.to_datetime(frame.index)
    return frame


CASES: list[tuple[str, Callable[[Any, pd.DataFrame, pd.DataFrame], pd.DataFrame]]] = [
    ("swing_highs_lows_result_data.csv", lambda m, df, shl: m.swing_highs_lows(df, swing_length=5)),
    ("fvg_result_data.csv", lambda m, df, shl: m.fvg(df)),
    ("fvg_consecutive_result_data.csv", lambda m, df, shl: m.fvg(df, join_consecutive=True)),
    ("bos_choch_result_data.csv", lambda m, df, shl: m.bos_choch(df, shl)),
    ("ob_result_data.csv", lambda m, df, shl: m.ob(df, shl)),
    ("liquidity_result_data.csv", lambda m, df, shl: m.liquidity(df, shl)),
    ("previous_high_low_result_data_1D.csv", lambda m, df, shl: m.previous_high_low(df, time_frame="1D")),
    ("previous_high_low_result_data_4h.csv", lambda m, df, shl: m.previous_high_low(df, time_frame="4h")),
    ("previous_high_low_result_data_W.csv", lambda m, df, shl: m.previous_high_low(df, time_frame="W")),
    ("sessions_result_data.csv", lambda m, df, shl: m.sessions(df, session="London")),
    ("retracements_result_data.csv", lambda m, df, shl: m.retracements(df, shl)),
]


@pytest.mark.parametrize(("reference", "call"), CASES, ids=[c[0].removesuffix(".csv") for c in CASES])
def test_reference_file(eurusd: pd.DataFrame, reference: str, call: Callable[..., pd.DataFrame]) -> None:
    expected = pd.read_csv(shared_file("smc_reference", reference))
    shl = ours.swing_highs_lows(eurusd, swing_length=5)
    assert_same_frame(call(ours, eurusd, shl), expected)


def test_every_reference_file_is_covered() -> None:
    folder = shared_file("smc_reference", "EURUSD_15M.csv").parent
    outputs = {p.name for p in folder.glob("*_result_data*.csv")}
    assert outputs == {c[0] for c in CASES}


def _peer_vs_ours(df: pd.DataFrame, swing_length: int) -> None:
    """Every function, several parameter choices, ours vs the installed peer on the same frame."""
    shl_p = peer.swing_highs_lows(df.copy(), swing_length=swing_length)
    shl_o = ours.swing_highs_lows(df, swing_length=swing_length)
    assert_same_frame(shl_o, shl_p)
    pairs = [
        (lambda m, s: m.fvg(df.copy())),
        (lambda m, s: m.fvg(df.copy(), join_consecutive=True)),
        (lambda m, s: m.bos_choch(df.copy(), s)),
        (lambda m, s: m.bos_choch(df.copy(), s, close_break=False)),
        (lambda m, s: m.ob(df.copy(), s)),
        (lambda m, s: m.ob(df.copy(), s, close_mitigation=True)),
        (lambda m, s: m.liquidity(df.copy(), s)),
        (lambda m, s: m.liquidity(df.copy(), s, range_percent=0.05)),
        (lambda m, s: m.previous_high_low(df.copy(), time_frame="1D")),
        (lambda m, s: m.previous_high_low(df.copy(), time_frame="4h")),
        (lambda m, s: m.sessions(df.copy(), session="Sydney")),
        (
            lambda m, s: m.sessions(
                df.copy(), session="Custom", start_time="10:30", end_time="12:00", time_zone="UTC+2"
            )
        ),
        (lambda m, s: m.retracements(df.copy(), s)),
    ]
    for call in pairs:
        assert_same_frame(call(ours, shl_o), call(peer, shl_p))


def _frame(candles: Any) -> pd.DataFrame:
    index = pd.to_datetime(candles.ts_ms, unit="ms")
    return pd.DataFrame(
        {
            "open": candles.open,
            "high": candles.high,
            "low": candles.low,
            "close": candles.close,
            "volume": candles.volume,
        },
        index=index,
    )


def test_peer_on_real_btc_candles() -> None:
    df = pd.read_csv(shared_file("ohlcv", "binance_2024", "binance_spot_BTCUSDT_5m.csv"), nrows=2500)
    df.index = pd.to_datetime(df["timestamp_ms"], unit="ms")
    _peer_vs_ours(df[["open", "high", "low", "close", "volume"]], swing_length=5)


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(30, 400),
    tick=st.sampled_from([0.0, 0.5]),
    swing_length=st.integers(1, 8),
)
def test_peer_on_random_series(seed: int, n: int, tick: float, swing_length: int) -> None:
    _peer_vs_ours(_frame(random_candles(seed, n, tick=tick, gap_hours=5)), swing_length)
