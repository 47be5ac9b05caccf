"""Small O(1) streaming indicators for strategies (floats)."""

from __future__ import annotations

import math
from collections import deque


class SMA:
    """Simple moving average over the last ``length`` values; ``nan`` until warm. O(1) per value.

    A running sum with Neumaier compensation (like pandas' rolling mean), re-summed exactly with
    ``math.fsum`` every ``length * 64`` values so rounding can never accumulate.
    """

    __slots__ = ("_comp", "_count", "_sum", "_window", "length", "value")

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"SMA length must be >= 1, got {length}")
        self.length = length
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._comp = 0.0
        self._count = 0
        self.value = math.nan

    def update(self, x: float) -> float:
        # the hot path of every SMA strategy: one Neumaier step to add ``x``, one to drop the oldest
        w = self._window
        w.append(x)
        s = self._sum
        t = s + x
        # ``(s if s >= 0.0 else -s)`` is ``abs(s)`` without a call (NaN included: both give NaN)
        comp = self._comp + (
            (s - t) + x if (s if s >= 0.0 else -s) >= (x if x >= 0.0 else -x) else (x - t) + s
        )
        n = len(w)
        length = self.length
        if n > length:
            v = -w.popleft()
            s = t
            t = s + v
            comp += (s - t) + v if (s if s >= 0.0 else -s) >= (v if v >= 0.0 else -v) else (v - t) + s
            n = length
        self._sum = t
        self._comp = comp
        if n == length:
            count = self._count + 1
            self._count = count
            if count % (length * 64) == 0:
                self._sum, self._comp = math.fsum(w), 0.0
                t, comp = self._sum, 0.0
            self.value = (t + comp) / length
        return self.value


def crossed_above(a_prev: float, a: float, b_prev: float, b: float) -> bool:
    """``a`` crossed above ``b`` between the previous and the current value (strict, like backtesting.py)."""
    return a_prev < b_prev and a > b
