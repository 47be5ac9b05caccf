"""Property tests: batch == streaming, and causality (a prefix run knows exactly what was confirmed)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smc_agent.smc import batch
from smc_agent.smc.candles import Candles
from smc_agent.smc.config import DEFAULT_SESSIONS, BreakSource, FVGMitigation, SMCConfig
from smc_agent.smc.events import PERIODS, SMCEvent
from smc_agent.smc.stream import SMCStream

from ._gen import as_known_at, random_candles, real_candles, stream_tables

TABLES = ("swings", "breaks", "order_blocks", "fvgs", "liquidity", "period_breaks")

configs = st.builds(
    SMCConfig,
    swing_length=st.integers(1, 6),
    structure_break=st.sampled_from(list(BreakSource)),
    ob_invalidation=st.sampled_from(list(BreakSource)),
    fvg_min_size_atr=st.sampled_from([0.0, 0.3]),
    fvg_mitigation=st.sampled_from(list(FVGMitigation)),
    fvg_join_consecutive=st.booleans(),
    atr_length=st.integers(1, 20),
    liquidity_tolerance_atr=st.sampled_from([0.0, 0.1, 0.5]),
    sessions=st.just(DEFAULT_SESSIONS),
    max_active=st.sampled_from([4, 256]),
)
random_series = st.builds(
    random_candles,
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 260),
    tick=st.sampled_from([0.0, 0.05, 0.5]),
    gap_hours=st.sampled_from([0, 7, 30]),
)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _feed(candles: Candles, config: SMCConfig) -> tuple[list[SMCEvent], list[dict[str, object]]]:
    stream = SMCStream(config)
    events: list[SMCEvent] = []
    states = []
    for i in range(len(candles)):
        events += stream.update(
            candles.open[i],
            candles.high[i],
            candles.low[i],
            candles.close[i],
            candles.volume[i],
            int(candles.ts_ms[i]),
        )
        dr = stream.dealing_range
        rt = stream.retracement
        states.append(
            {
                "trend": stream.trend,
                "range": None if dr is None else (dr.high, dr.low),
                "retracement": None if rt is None else (rt.direction, rt.current, rt.deepest),
                "periods": {
                    k: (v.high, v.low, v.broken_high, v.broken_low) for k, v in stream.previous_levels.items()
                },
                "sessions": [(s.active, s.high, s.low) for s in stream.sessions],
                "atr": stream.atr,
            }
        )
    return events, states


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_stream_equals_batch(candles: Candles, config: SMCConfig) -> None:
    events, states = _feed(candles, config)
    result = batch.analyze(candles, config)
    rebuilt = stream_tables(events)
    for name in TABLES:
        assert rebuilt[name] == getattr(result, name).rows(), name
    for t, s in enumerate(states):
        assert s["trend"] == result.structure.trend[t]
        assert s["atr"] == result.atr[t]
        hi, lo = result.structure.range_high[t], result.structure.range_low[t]
        if s["range"] is None:
            assert math.isnan(hi) or math.isnan(lo)
        else:
            assert s["range"] == (hi, lo)
        r = result.retracements
        if s["retracement"] is not None:
            assert s["retracement"] == (r.direction[t], r.current[t], r.deepest[t])
        else:
            assert r.direction[t] == 0 or math.isnan(r.current[t])
        for name in PERIODS:
            p = result.periods[name]
            if name in s["periods"]:
                assert s["periods"][name] == (
                    p.previous_high[t],
                    p.previous_low[t],
                    p.broken_high[t],
                    p.broken_low[t],
                )
            else:
                assert math.isnan(p.previous_high[t])
        for k, spec in enumerate(config.sessions):
            ss = result.sessions[spec.name]
            active, high, low = s["sessions"][k]
            assert active == ss.active[t]
            if active:
                assert (high, low) == (ss.high[t], ss.low[t])


def assert_causal(candles: Candles, config: SMCConfig, cuts: list[int]) -> None:
    full = batch.analyze(candles, config)
    for t in cuts:
        part = batch.analyze(candles.slice(t + 1), config)
        for name in TABLES:
            assert getattr(part, name).rows() == as_known_at(getattr(full, name), t), (name, t)
        for attr in ("trend", "range_high", "range_low"):
            np.testing.assert_array_equal(
                getattr(part.structure, attr), getattr(full.structure, attr)[: t + 1]
            )
        for attr in ("direction", "current", "deepest"):
            np.testing.assert_array_equal(
                getattr(part.retracements, attr), getattr(full.retracements, attr)[: t + 1]
            )
        np.testing.assert_array_equal(part.atr, full.atr[: t + 1])
        for name in PERIODS:
            for attr in ("previous_high", "previous_low", "broken_high", "broken_low"):
                np.testing.assert_array_equal(
                    getattr(part.periods[name], attr), getattr(full.periods[name], attr)[: t + 1]
                )
        for sname, series in full.sessions.items():
            np.testing.assert_array_equal(part.sessions[sname].high, series.high[: t + 1])
            np.testing.assert_array_equal(part.sessions[sname].active, series.active[: t + 1])


@FAST
@given(candles=random_series, config=configs)
def test_stream_equals_batch_random(candles: Candles, config: SMCConfig) -> None:
    assert_stream_equals_batch(candles, config)


@FAST
@given(candles=random_series, config=configs, data=st.data())
def test_prefix_run_is_causal_random(candles: Candles, config: SMCConfig, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(candles) - 1), min_size=1, max_size=4))
    assert_causal(candles, config, cuts)


REAL_FILES = ("binance_2024/binance_spot_BTCUSDT_5m.csv", "binance_2017_2020/binance_spot_BTCUSDT_1h.csv")


@settings(max_examples=6, deadline=None)
@given(
    which=st.sampled_from(REAL_FILES),
    start=st.integers(0, 10_000),
    length=st.integers(50, 1500),
    config=configs,
    data=st.data(),
)
def test_real_candles_stream_equals_batch_and_causal(
    which: str, start: int, length: int, config: SMCConfig, data: st.DataObject
) -> None:
    full = real_candles(which)
    window = Candles(
        *(
            a[start : start + length]
            for a in (full.open, full.high, full.low, full.close, full.volume, full.ts_ms)
        )
    )
    assert_stream_equals_batch(window, config)
    cuts = data.draw(st.lists(st.integers(0, len(window) - 1), min_size=1, max_size=3))
    assert_causal(window, config, cuts)


def test_whole_real_file_stream_equals_batch() -> None:
    candles = real_candles("binance_2024/binance_spot_BTCUSDT_1h.csv")
    result = batch.analyze(candles)
    for name in TABLES:  # the equality below is not vacuous: every concept fires on this file
        assert len(getattr(result, name)) > 10, name
    assert {1, -1} <= set(result.structure.trend.tolist())
    assert_stream_equals_batch(candles, SMCConfig())
