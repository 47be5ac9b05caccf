"""The streaming entry point: one candle through `step`, with the state passed as two flat buffers.

Crossing from Python into compiled code costs per array argument (type check, unboxing, reference
counting); `KernelState` keeps its twelve arrays as views of two buffers, rebuilt here as views.
"""

# ruff: noqa: PLR0917  (compiled kernels take their state arrays positionally; numba has no kw-only)

from __future__ import annotations

from .jit import jit
from .layout import (
    C_CAP,
    C_FIELDS,
    C_N_SESSIONS,
    C_SWING_LEN,
    CAND_FIELDS,
    F_FIELDS,
    FVG_FIELDS,
    I_FIELDS,
    OB_FIELDS,
    POOL_FIELDS,
    R_ROWS,
    S_FIELDS,
)
from .step import step
from .tables import F64, I64


@jit
def stream_step(fbuf: F64, ibuf: I64, ev: F64, h: float, lo: float, c: float, v: float, ts_ms: int) -> int:
    """`step` on the state laid out by `KernelState.new`; returns the number of events written to `ev`."""
    cap = int(fbuf[C_CAP])
    ns = int(fbuf[C_N_SESSIONS])
    size = max(2 * int(fbuf[C_SWING_LEN]) + 1, 3)
    a = C_FIELDS + F_FIELDS
    b = a + R_ROWS * size
    o = b + cap * OB_FIELDS
    f = o + cap * FVG_FIELDS
    k = f + cap * CAND_FIELDS
    p = k + cap * POOL_FIELDS
    e = p + ns * S_FIELDS
    return step(
        fbuf[:C_FIELDS],
        fbuf[C_FIELDS:a],
        ibuf[:I_FIELDS],
        fbuf[a:b].reshape((R_ROWS, size)),
        fbuf[b:o].reshape((cap, OB_FIELDS)),
        fbuf[o:f].reshape((cap, FVG_FIELDS)),
        fbuf[f:k].reshape((cap, CAND_FIELDS)),
        fbuf[k:p].reshape((cap, POOL_FIELDS)),
        fbuf[p:e].reshape((ns, S_FIELDS)),
        ibuf[I_FIELDS : I_FIELDS + 2 * ns].reshape((ns, 2)),
        ibuf[I_FIELDS + 2 * ns : I_FIELDS + 3 * ns],
        ev,
        0,
        h,
        lo,
        c,
        v,
        ts_ms,
    )
