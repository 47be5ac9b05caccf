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

    def _add(self, v: float) -> None:
        s = self._sum
        t = s + v
        self._comp += (s - t) + v if abs(s) >= abs(v) else (v - t) + s
        self._sum = t

    def update(self, x: float) -> float:
        w = self._window
        w.append(x)
        self._add(x)
        if len(w) > self.length:
            self._add(-w.popleft())
        if len(w) == self.length:
            self._count += 1
            if self._count % (self.length * 64) == 0:
                self._sum, self._comp = math.fsum(w), 0.0
            self.value = (self._sum + self._comp) / self.length
        return self.value


def crossed_above(a_prev: float, a: float, b_prev: float, b: float) -> bool:
    """``a`` crossed above ``b`` between the previous and the current value (strict, like backtesting.py)."""
    return a_prev < b_prev and a > b
