"""Each single-concept batch function equals the corresponding part of `batch.analyze` (the full kernel).

`batch.liquidity` runs its own compiled loop (swings read from the whole arrays, one candidate and one
pool table per side sorted by the price that retires / sweeps them), so this is what ties it to the
streaming-equivalent full kernel.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smc_agent.smc import batch
from smc_agent.smc.candles import Candles
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.kernel.swings import pivot_flags

from ._gen import random_candles, real_candles

configs = st.builds(
    SMCConfig,
    swing_length=st.integers(1, 6),
    atr_length=st.integers(1, 20),
    liquidity_tolerance_atr=st.sampled_from([0.0, 0.1, 0.5, 2.0]),
    max_active=st.sampled_from([4, 5, 256]),
)
series = st.builds(
    random_candles,
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    tick=st.sampled_from([0.0, 0.05, 0.5]),
)


def assert_functions_equal_analyze(candles: Candles, config: SMCConfig) -> None:
    full = batch.analyze(candles, config)
    assert batch.liquidity(candles, config).rows() == full.liquidity.rows()
    assert batch.swings(candles, config).rows() == full.swings.rows()
    assert batch.fvgs(candles, config).rows() == full.fvgs.rows()
    assert batch.order_blocks(candles, config).rows() == full.order_blocks.rows()
    assert batch.structure(candles, config).rows() == full.breaks.rows()
    np.testing.assert_array_equal(batch.retracements(candles, config).deepest, full.retracements.deepest)


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
