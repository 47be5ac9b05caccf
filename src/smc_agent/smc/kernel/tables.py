"""Compiled helpers shared by the concept kernels: event emission and ordered object tables."""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .jit import jit
from .layout import (
    EV_A,
    EV_B,
    EV_BAR,
    EV_DIR,
    EV_FORMED,
    EV_ID,
    EV_KIND,
    EV_X1,
    EV_X2,
    EV_X3,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F32 = npt.NDArray[np.float32]


@jit
def emit(
    ev: F64,
    n: int,
    kind: int,
    bar: int,
    oid: float,
    direction: float,
    a: float,
    b: float,
    formed: float,
    x1: float,
    x2: float,
    x3: float,
) -> int:
    """Append one event record at row `n`; return the next free row."""
    ev[n, EV_KIND] = kind
    ev[n, EV_BAR] = bar
    ev[n, EV_ID] = oid
    ev[n, EV_DIR] = direction
    ev[n, EV_A] = a
    ev[n, EV_B] = b
    ev[n, EV_FORMED] = formed
    ev[n, EV_X1] = x1
    ev[n, EV_X2] = x2
    ev[n, EV_X3] = x3
    return n + 1


@jit
def copy_row(table: F64, dst: int, src: int) -> None:
    """table[dst] = table[src], element by element (no slice views in the hot loops)."""
    for j in range(table.shape[1]):
        table[dst, j] = table[src, j]


@jit
def append_row(table: F64, count: int) -> int:
    """Return the row index for a new object, dropping the oldest row if the table is full."""
    if count < table.shape[0]:
        return count
    for r in range(1, count):
        copy_row(table, r - 1, r)
    return count - 1


@jit
def group_by_kind(ev: F64, n_kinds: int) -> tuple[F64, I64]:
    """Event rows grouped by kind (a stable counting sort: emission order kept within a kind).

    Returns the grouped rows and `starts` (length n_kinds + 2): kind k occupies rows
    `starts[k]:starts[k + 1]`.
    """
    n = ev.shape[0]
    starts = np.zeros(n_kinds + 2, dtype=np.int64)
    for i in range(n):
        starts[int(ev[i, EV_KIND]) + 1] += 1
    for k in range(1, n_kinds + 2):
        starts[k] += starts[k - 1]
    fill = starts[:-1].copy()
    out = np.empty_like(ev)
    for i in range(n):
        k = int(ev[i, EV_KIND])
        r = fill[k]
        fill[k] = r + 1
        for j in range(ev.shape[1]):
            out[r, j] = ev[i, j]
    return out, starts
