"""Small O(1) streaming indicators for strategies (floats)."""

from __future__ import annotations

import math
from collections import deque


class SMA:
    """Simple moving average over the last ``length`` values; ``nan`` until warm.

    Keeps the window and recomputes the sum exactly each step (no drift from running sums), which
    is cheap for the short windows strategies use and bit-identical to ``sum(window) / length``.
    """

    __slots__ = ("_window", "length", "value")

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"SMA length must be >= 1, got {length}")
        self.length = length
        self._window: deque[float] = deque(maxlen=length)
        self.value = math.nan

    def update(self, x: float) -> float:
        w = self._window
        w.append(x)
        if len(w) == self.length:
            self.value = math.fsum(w) / self.length
        return self.value


def crossed_above(a_prev: float, a: float, b_prev: float, b: float) -> bool:
    """``a`` crossed above ``b`` between the previous and the current value (strict, like backtesting.py)."""
    return a_prev < b_prev and a > b
