"""Allocation of the kernel state arrays from a typed `SMCConfig` (plain Python)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import BreakSource, SMCConfig
from .layout import (
    C_ATR_LEN,
    C_CAP,
    C_EN_FVG,
    C_EN_LIQ,
    C_EN_OB,
    C_EN_PERIODS,
    C_EN_SESSIONS,
    C_EN_STRUCT,
    C_EN_SWING,
    C_FIELDS,
    C_FVG_JOIN,
    C_FVG_MIN_ATR,
    C_FVG_MODE,
    C_LIQ_TOL_ATR,
    C_N_SESSIONS,
    C_OB_INVALID_WICK,
    C_STRUCT_WICK,
    C_SWING_LEN,
    CAND_FIELDS,
    EV_FIELDS,
    F_CAND_BEAR_CEIL,
    F_CAND_BEAR_TRIG,
    F_CAND_BULL_FLOOR,
    F_CAND_BULL_TRIG,
    F_FIELDS,
    F_FVG_BEAR_TRIG,
    F_FVG_BULL_TRIG,
    F_OB_BEAR_TRIG,
    F_OB_BULL_TRIG,
    F_POOL_BEAR_TRIG,
    F_POOL_BULL_TRIG,
    F_RANGE_HI,
    F_RANGE_LO,
    F_RETR_CUR,
    F_RETR_DEEP,
    FVG_FIELDS,
    I_FIELDS,
    I_HI_BAR,
    I_LO_BAR,
    I_MAX_BAR,
    I_MIN_BAR,
    I_RANGE_HI_BAR,
    I_RANGE_LO_BAR,
    MAX_STEP_EVENTS_BASE,
    OB_FIELDS,
    POOL_FIELDS,
    R_ROWS,
    S_FIELDS,
    S_HIGH,
    S_LOW,
)
from .tables import F64, I64

ALL = frozenset({"swings", "structure", "order_blocks", "fvg", "liquidity", "periods", "sessions"})
_NEEDS = {
    "structure": {"swings"},
    "order_blocks": {"swings", "structure"},
    "liquidity": {"swings"},
}


def config_vector(config: SMCConfig, concepts: frozenset[str]) -> F64:
    """Encode `config` and the enabled concepts (closed over their dependencies) for the kernel."""
    unknown = concepts - ALL
    if unknown:
        raise ValueError(f"unknown concepts {sorted(unknown)}; known: {sorted(ALL)}")
    enabled = set(concepts)
    for name in list(enabled):
        enabled |= _NEEDS.get(name, set())
    cfg = np.zeros(C_FIELDS)
    cfg[C_SWING_LEN] = config.swing_length
    cfg[C_STRUCT_WICK] = 1.0 if config.structure_break == BreakSource.WICK else 0.0
    cfg[C_OB_INVALID_WICK] = 1.0 if config.ob_invalidation == BreakSource.WICK else 0.0
    cfg[C_FVG_MIN_ATR] = config.fvg_min_size_atr
    cfg[C_FVG_MODE] = int(config.fvg_mitigation)
    cfg[C_FVG_JOIN] = 1.0 if config.fvg_join_consecutive else 0.0
    cfg[C_ATR_LEN] = config.atr_length
    cfg[C_LIQ_TOL_ATR] = config.liquidity_tolerance_atr
    flags = {
        "swings": C_EN_SWING,
        "structure": C_EN_STRUCT,
        "order_blocks": C_EN_OB,
        "fvg": C_EN_FVG,
        "liquidity": C_EN_LIQ,
        "periods": C_EN_PERIODS,
        "sessions": C_EN_SESSIONS,
    }
    for name, idx in flags.items():
        cfg[idx] = 1.0 if name in enabled else 0.0
    cfg[C_N_SESSIONS] = len(config.sessions)
    cfg[C_CAP] = config.max_active
    return cfg


def ring_size(swing_length: int) -> int:
    """Columns of the ring buffer of recent bars (a pivot needs `swing_length` bars each side)."""
    return max(2 * swing_length + 1, 3)


def float_size(cap: int, swing_length: int, n_sessions: int) -> int:
    """Length of the flat float buffer: cfg | fs | ring | obs | fvgs | cands | pools | sess."""
    tables = cap * (OB_FIELDS + FVG_FIELDS + CAND_FIELDS + POOL_FIELDS)
    return C_FIELDS + F_FIELDS + R_ROWS * ring_size(swing_length) + tables + n_sessions * S_FIELDS


@dataclass(slots=True)
class KernelState:
    """Every mutable array of one indicator set. O(max_active + swing_length) memory.

    The float arrays are views of one flat buffer `fbuf` and the integer ones (`is_`, `windows` and
    the per-candle session `offsets`) of `ibuf`, in the order `kernel.stream_step.views` rebuilds them,
    so the streaming call hands the compiled code two arrays instead of twelve.
    """

    cfg: F64
    fs: F64
    is_: I64
    ring: F64
    obs: F64
    fvgs: F64
    cands: F64
    pools: F64
    sess: F64
    windows: I64
    offsets: I64
    fbuf: F64
    ibuf: I64

    @classmethod
    def new(cls, config: SMCConfig, concepts: frozenset[str] = ALL) -> KernelState:
        cap = config.max_active
        ns = len(config.sessions)
        size = ring_size(config.swing_length)
        fbuf = np.zeros(float_size(cap, config.swing_length, ns))
        ibuf = np.zeros(I_FIELDS + 3 * ns, dtype=np.int64)
        parts = []
        at = 0
        for shape in (
            (C_FIELDS,),
            (F_FIELDS,),
            (R_ROWS, size),
            (cap, OB_FIELDS),
            (cap, FVG_FIELDS),
            (cap, CAND_FIELDS),
            (cap, POOL_FIELDS),
            (ns, S_FIELDS),
        ):
            length = int(np.prod(shape))
            parts.append(fbuf[at : at + length].reshape(shape))
            at += length
        cfg, fs, ring, obs, fvgs, cands, pools, sess = parts
        cfg[:] = config_vector(config, concepts)
        for idx in (F_RANGE_HI, F_RANGE_LO, F_RETR_CUR, F_RETR_DEEP):
            fs[idx] = math.nan
        for idx in (F_OB_BULL_TRIG, F_FVG_BULL_TRIG, F_POOL_BEAR_TRIG, F_CAND_BEAR_TRIG, F_CAND_BEAR_CEIL):
            fs[idx] = -math.inf
        for idx in (F_OB_BEAR_TRIG, F_FVG_BEAR_TRIG, F_POOL_BULL_TRIG, F_CAND_BULL_TRIG, F_CAND_BULL_FLOOR):
            fs[idx] = math.inf
        is_ = ibuf[:I_FIELDS]
        for idx in (I_HI_BAR, I_LO_BAR, I_MIN_BAR, I_MAX_BAR, I_RANGE_HI_BAR, I_RANGE_LO_BAR):
            is_[idx] = -1
        sess[:, S_HIGH] = math.nan
        sess[:, S_LOW] = math.nan
        windows = ibuf[I_FIELDS : I_FIELDS + 2 * ns].reshape(ns, 2)
        for k, spec in enumerate(config.sessions):
            windows[k] = (spec.start_minute, spec.end_minute)
        return cls(
            cfg=cfg,
            fs=fs,
            is_=is_,
            ring=ring,
            obs=obs,
            fvgs=fvgs,
            cands=cands,
            pools=pools,
            sess=sess,
            windows=windows,
            offsets=ibuf[I_FIELDS + 2 * ns :],
            fbuf=fbuf,
            ibuf=ibuf,
        )

    def event_buffer(self) -> F64:
        """A buffer large enough for the events of one step."""
        return np.zeros((MAX_STEP_EVENTS_BASE + 4 * int(self.cfg[C_CAP]), EV_FIELDS))
