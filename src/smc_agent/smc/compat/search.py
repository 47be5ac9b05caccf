"""Compiled "first index at or after `start` where a[j] crosses x" searches, via block extrema.

O(n / BLOCK + BLOCK) per query instead of O(n), for the peer's forward-looking mitigation searches.
"""

from __future__ import annotations

import numpy as np

from ..kernel.jit import jit
from ..kernel.tables import F64

BLOCK = 64


@jit
def block_min(a: F64) -> F64:
    nb = (a.shape[0] + BLOCK - 1) // BLOCK
    out = np.empty(nb)
    for b in range(nb):
        out[b] = a[b * BLOCK : min((b + 1) * BLOCK, a.shape[0])].min()
    return out


@jit
def block_max(a: F64) -> F64:
    nb = (a.shape[0] + BLOCK - 1) // BLOCK
    out = np.empty(nb)
    for b in range(nb):
        out[b] = a[b * BLOCK : min((b + 1) * BLOCK, a.shape[0])].max()
    return out


@jit
def first_below(a: F64, mins: F64, start: int, x: float, strict: bool) -> int:
    """First j >= start with a[j] <= x (or < x when strict); -1 if none. `mins` = block_min(a)."""
    n = a.shape[0]
    j = start
    while j < n:
        if j % BLOCK == 0 and j + BLOCK <= n:
            m = mins[j // BLOCK]
            if (m >= x) if strict else (m > x):
                j += BLOCK
                continue
        if (a[j] < x) if strict else (a[j] <= x):
            return j
        j += 1
    return -1


@jit
def first_above(a: F64, maxs: F64, start: int, x: float, strict: bool) -> int:
    """First j >= start with a[j] >= x (or > x when strict); -1 if none. `maxs` = block_max(a)."""
    n = a.shape[0]
    j = start
    while j < n:
        if j % BLOCK == 0 and j + BLOCK <= n:
            m = maxs[j // BLOCK]
            if (m <= x) if strict else (m < x):
                j += BLOCK
                continue
        if (a[j] > x) if strict else (a[j] >= x):
            return j
        j += 1
    return -1
