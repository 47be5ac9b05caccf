"""Each single-concept batch function equals the corresponding part of `batch.analyze` (the full kernel).

Every single-output function (`swings`, `structure`, `order_blocks`, `fvgs`, `liquidity`,
`previous_high_low`, `sessions`, `retracements`, `premium_discount`) runs its own compiled loop
(swings read from the whole arrays, only the concepts the output needs, columns written directly;
per-side tables sorted by the price that changes their objects), so this is what ties them to the
streaming-equivalent full kernel.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smc_agent.smc import batch
from smc_agent.smc.candles import Candles
from smc_agent.smc.config import DEFAULT_SESSIONS, BreakSource, FVGMitigation, SessionSpec, SMCConfig
from smc_agent.smc.kernel.swings import pivot_flags
from smc_agent.smc.results import Table

from ._gen import random_candles, real_candles

SESSIONS = (*DEFAULT_SESSIONS, SessionSpec("UTC day", "UTC", "07:00", "16:00"))
configs = st.builds(
    SMCConfig,
    swing_length=st.integers(1, 6),
    structure_break=st.sampled_from(list(BreakSource)),
    ob_invalidation=st.sampled_from(list(BreakSource)),
    fvg_min_size_atr=st.sampled_from([0.0, 0.0, 0.3, 1.0]),
    fvg_mitigation=st.sampled_from(list(FVGMitigation)),
    fvg_join_consecutive=st.booleans(),
    atr_length=st.integers(1, 20),
    liquidity_tolerance_atr=st.sampled_from([0.0, 0.1, 0.5, 2.0]),
    sessions=st.sampled_from([DEFAULT_SESSIONS, SESSIONS, ()]),
    max_active=st.sampled_from([4, 5, 256]),
)
series = st.builds(
    random_candles,
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    tick=st.sampled_from([0.0, 0.05, 0.5]),
    gap_hours=st.sampled_from([0, 0, 7, 30]),
)


def assert_tables_equal(got: Table, expected: Table) -> None:
    """Same columns, dtypes and rows."""
    assert {k: v.dtype for k, v in got.columns().items()} == {
        k: v.dtype for k, v in expected.columns().items()
    }
    assert got.rows() == expected.rows()


def assert_functions_equal_analyze(candles: Candles, config: SMCConfig) -> None:
    full = batch.analyze(candles, config)
    assert_tables_equal(batch.liquidity(candles, config), full.liquidity)
    assert_tables_equal(batch.swings(candles, config), full.swings)
    assert_tables_equal(batch.fvgs(candles, config), full.fvgs)
    assert_tables_equal(batch.order_blocks(candles, config), full.order_blocks)
    assert_tables_equal(batch.structure(candles, config), full.breaks)
    _assert_same_arrays(batch.retracements(candles, config), full.retracements)
    _assert_same_arrays(batch.premium_discount(candles, config), full.structure)
    periods = batch.previous_high_low(candles, config)
    assert list(periods) == list(full.periods)
    for name, expected_period in full.periods.items():
        _assert_same_arrays(periods[name], expected_period)
    got = batch.sessions(candles, config)
    assert list(got) == list(full.sessions)
    for name, expected in full.sessions.items():
        _assert_same_arrays(got[name], expected)


def _assert_same_arrays(got: object, expected: object) -> None:
    """Every field equal in dtype and value (NaN where NaN)."""
    for name in type(expected).__slots__:  # type: ignore[attr-defined]
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)


def assert_pivot_flags_match_swings(candles: Candles, config: SMCConfig) -> None:
    flags = pivot_flags(candles.high, candles.low, config.swing_length)
    swings = batch.swings(candles, config)
    expected = np.zeros(len(candles), dtype=np.uint8)
    np.bitwise_or.at(expected, swings.formed_at, np.where(swings.direction > 0, 1, 2).astype(np.uint8))
    np.testing.assert_array_equal(flags, expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candles=series, config=configs)
def test_single_concept_functions_equal_analyze_random(candles: Candles, config: SMCConfig) -> None:
    assert_functions_equal_analyze(candles, config)
    assert_pivot_flags_match_swings(candles, config)


def test_single_concept_functions_equal_analyze_real() -> None:
    candles = real_candles("binance_2024/binance_spot_BTCUSDT_5m.csv")
    config = SMCConfig()
    assert len(batch.liquidity(candles, config)) > 100  # not vacuous: many pools, many sweeps
    assert (batch.liquidity(candles, config).swept_at >= 0).sum() > 100
    assert_functions_equal_analyze(candles, config)
    assert_pivot_flags_match_swings(candles, config)


def test_liquidity_equals_analyze_when_the_caps_drop_objects() -> None:
    """The batch loop keeps one table per side; dropping the oldest object of *either* side at
    `max_active` (candidates by insertion order, pools by id) must match the kernel's shared tables."""
    candles = real_candles("binance_2024/binance_spot_BTCUSDT_5m.csv").slice(20_000)
    for swing_length, tolerance in ((5, 0.1), (2, 2.0), (1, 0.5)):
        capped = SMCConfig(swing_length=swing_length, liquidity_tolerance_atr=tolerance, max_active=4)
        loose = SMCConfig(swing_length=swing_length, liquidity_tolerance_atr=tolerance, max_active=100_000)
        rows = batch.liquidity(candles, capped).rows()
        assert rows == batch.analyze(candles, capped).liquidity.rows()
        assert rows != batch.liquidity(candles, loose).rows()  # the cap did drop objects
        assert batch.liquidity(candles, loose).rows() == batch.analyze(candles, loose).liquidity.rows()


def test_fvgs_and_order_blocks_equal_analyze_when_the_caps_drop_objects() -> None:
    """At `max_active` the dedicated loops drop the oldest tracked gap / block without an event, as the
    kernel's tables do; every FVG option is exercised on real candles."""
    candles = real_candles("binance_2024/binance_spot_BTCUSDT_5m.csv").slice(20_000)
    dropped_gaps, dropped_blocks = [], []
    for mode, join, min_size, wick in (
        (FVGMitigation.FULL, True, 0.0, BreakSource.WICK),
        (FVGMitigation.HALF, False, 0.3, BreakSource.CLOSE),
        (FVGMitigation.TOUCH, True, 1.0, BreakSource.CLOSE),
        (FVGMitigation.TOUCH, False, 0.0, BreakSource.WICK),
    ):
        kw = {
            "fvg_mitigation": mode,
            "fvg_join_consecutive": join,
            "fvg_min_size_atr": min_size,
            "ob_invalidation": wick,
            "structure_break": wick,
        }
        capped, loose = SMCConfig(max_active=4, **kw), SMCConfig(max_active=100_000, **kw)  # type: ignore[arg-type]
        full = batch.analyze(candles, capped)
        assert_tables_equal(batch.fvgs(candles, capped), full.fvgs)
        assert_tables_equal(batch.order_blocks(candles, capped), full.order_blocks)
        dropped_gaps.append(batch.fvgs(candles, capped).rows() != batch.fvgs(candles, loose).rows())
        dropped_blocks.append(
            batch.order_blocks(candles, capped).rows() != batch.order_blocks(candles, loose).rows()
        )
        full = batch.analyze(candles, loose)
        assert_tables_equal(batch.fvgs(candles, loose), full.fvgs)
        assert_tables_equal(batch.order_blocks(candles, loose), full.order_blocks)
        assert (full.fvgs.merged_at >= 0).any() == join
    assert dropped_gaps == [True, True, False, True]  # the caps did drop objects (few gaps of 1 ATR)
    assert all(dropped_blocks)


def test_functions_equal_analyze_when_closes_leave_the_candle_range() -> None:
    """The order block loop skips untouched blocks for invalidation unless the close lies beyond the
    bar's low / high, and follows the kernel's scan triggers, which decide then; unvalidated arrays
    (built without `Candles.from_arrays`) exercise that branch (and every other loop's close use)."""
    for seed in range(20):
        base = random_candles(seed, 400)
        rng = np.random.default_rng(seed)
        span = base.high - base.low
        close = base.close + rng.choice([-3.0, 0.0, 0.0, 3.0], len(base)) * span
        candles = Candles(base.open, base.high, base.low, close, base.volume, base.ts_ms)
        for wick in BreakSource:
            config = SMCConfig(swing_length=2, ob_invalidation=wick, max_active=int(rng.choice([4, 256])))
            assert (batch.analyze(candles, config).order_blocks.invalidated_at >= 0).sum() > 5
            assert_functions_equal_analyze(candles, config)
