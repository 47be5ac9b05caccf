"""Swing pivots equal a brute-force reading of the documented definition (docs/smc.md)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.smc import batch
from smc_agent.smc.config import SMCConfig

from ._gen import random_candles


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    length=st.integers(1, 7),
    tick=st.sampled_from([0.0, 0.5]),
)
def test_pivots_match_brute_force(seed: int, n: int, length: int, tick: float) -> None:
    c = random_candles(seed, n, tick=tick)
    h, lo = c.high.tolist(), c.low.tolist()
    expected = []
    for p in range(length, n - length):
        before, after = range(p - length, p), range(p + 1, p + length + 1)
        if all(h[p] > h[j] for j in before) and all(h[p] >= h[j] for j in after):
            expected.append((p + length, 1, p, h[p]))
        if all(lo[p] < lo[j] for j in before) and all(lo[p] <= lo[j] for j in after):
            expected.append((p + length, -1, p, lo[p]))
    table = batch.swings(c, SMCConfig(swing_length=length, sessions=()))
    got = list(
        zip(
            table.confirmed_at.tolist(),
            table.direction.tolist(),
            table.formed_at.tolist(),
            table.price.tolist(),
            strict=True,
        )
    )
    assert got == expected
