import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.strategy.indicators import SMA, crossed_above


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=1, max_size=400), st.integers(1, 40))
def test_sma_matches_pandas_rolling_mean(values: list[float], length: int) -> None:
    sma = SMA(length)
    ours = [sma.update(v) for v in values]
    expected = pd.Series(values).rolling(length).mean().tolist()
    for i, (a, b) in enumerate(zip(ours, expected, strict=True)):
        if i + 1 < length:
            assert math.isnan(a) and math.isnan(b)
            continue
        exact = math.fsum(values[i + 1 - length : i + 1]) / length
        assert math.isclose(a, exact, rel_tol=1e-12)
        # pandas' running sum carries rounding from values that already left the window (e.g. mean
        # 1.5000000000291 of [1, 2] after 131072): agree within that scale, not the window's
        scale = max(values[: i + 1])
        assert abs(a - b) <= 1e-12 * scale


def test_crossed_above_is_strict() -> None:
    assert crossed_above(1, 3, 2, 2)
    assert not crossed_above(2, 3, 2, 2)
    assert not crossed_above(1, 2, 2, 2)
