"""Batch causal SMC functions: validated candles in, typed tables / per-bar series out.

`analyze` runs the same compiled kernel as `SMCStream`, so `analyze(candles)` equals feeding the
candles one by one to `SMCStream`, and a run on a prefix `candles.slice(t + 1)` is the full run's
objects with `confirmed_at <= t` (lifecycle as known at t). Per-bar series (trend, dealing range,
retracement, previous period levels, sessions) are written after each bar, so row t depends on bars
0..t only.

The single-output functions (`swings`, `structure`, `order_blocks`, `fvgs`, `liquidity`,
`previous_high_low`, `sessions`, `retracements`, `premium_discount`) run dedicated compiled loops
(`kernel.liquidity_batch`, `kernel.fvg_batch`, `kernel.structure_batch`, `kernel.series_batch`):
the same rules in the same per-bar order, with the swings read from the whole arrays instead of the
ring buffer, only the concepts the output needs, and the result columns written directly (no event
log, grouping or kernel state). Each equals the matching part of `analyze(...)`, property-tested in
tests/smc/test_batch_functions.py, so the same holds for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .candles import Candles
from .config import BreakSource, SMCConfig
from .kernel.fvg_batch import run_fvgs
from .kernel.layout import (
    SER_ATR,
    SER_FIELDS,
    SER_PERIOD0,
    SER_RANGE_HI,
    SER_RANGE_LO,
    SER_RETR_CUR,
    SER_RETR_DEEP,
    SER_RETR_DIR,
    SER_TREND,
)
from .kernel.liquidity_batch import run_liquidity
from .kernel.series_batch import run_periods, run_retracements, run_sessions, run_swings
from .kernel.state import ALL, KernelState
from .kernel.step import run_batch
from .kernel.structure_batch import run_structure, run_trend_range
from .results import (
    BreakTable,
    FVGTable,
    LiquidityTable,
    OrderBlockTable,
    PeriodBreakTable,
    SwingTable,
    break_table,
    fvg_table,
    liquidity_table,
    order_block_table,
    period_break_table,
    split_by_kind,
    swing_table,
)
from .session_time import local_offsets

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class StructureSeries:
    """Per bar: trend after the bar (+1 / -1 / 0) and the dealing range (NaN until both swings exist)."""

    trend: I64
    range_high: F64
    range_low: F64

    @property
    def equilibrium(self) -> F64:
        return (self.range_high + self.range_low) / 2.0

    def zone(self, close: F64) -> I64:
        """+1 premium (close above equilibrium), -1 discount, 0 at equilibrium or no range."""
        eq = self.equilibrium
        return np.where(np.isnan(eq), 0, np.sign(close - eq)).astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class RetracementSeries:
    direction: I64  # +1 last swing is a high, -1 a low, 0 none yet
    current: F64  # % of the dealing range retraced by this bar (NaN if no range)
    deepest: F64  # deepest % since the last swing


@dataclass(frozen=True, slots=True, eq=False)
class PeriodSeries:
    """Previous complete period's high / low (NaN before one exists) and break flags of the current one."""

    previous_high: F64
    previous_low: F64
    broken_high: B
    broken_low: B


@dataclass(frozen=True, slots=True, eq=False)
class SessionSeries:
    active: B
    high: F64  # running high of the current instance, NaN when inactive
    low: F64


@dataclass(frozen=True, slots=True, eq=False)
class SMCResult:
    """Everything the full indicator set computes on a candle array."""

    swings: SwingTable
    breaks: BreakTable
    order_blocks: OrderBlockTable
    fvgs: FVGTable
    liquidity: LiquidityTable
    period_breaks: PeriodBreakTable
    structure: StructureSeries
    retracements: RetracementSeries
    atr: F64
    periods: dict[str, PeriodSeries]
    sessions: dict[str, SessionSeries]
    events: F64  # raw kernel event log (rows in emission order)


def _run(
    candles: Candles, config: SMCConfig, concepts: frozenset[str], *, series: bool, sessions: bool
) -> tuple[F64, F64, F64]:
    st = KernelState.new(config, concepts)
    n = len(candles)
    s = len(config.sessions)
    offsets = local_offsets(candles.ts_ms, config.sessions) if sessions else np.zeros((n, 0), np.int64)
    ser = np.empty((SER_FIELDS, n if series else 0))
    sess_ser = np.empty((s, 2, n if sessions else 0))
    ev = run_batch(
        st.cfg,
        st.fs,
        st.is_,
        st.ring,
        st.obs,
        st.fvgs,
        st.cands,
        st.pools,
        st.sess,
        st.windows,
        offsets,
        candles.high,
        candles.low,
        candles.close,
        candles.volume,
        candles.ts_ms,
        ser,
        sess_ser,
    )
    return ev, ser, sess_ser


def _periods(ser: F64) -> dict[str, PeriodSeries]:
    out = {}
    for code, name in enumerate(("D", "W", "M")):
        b = SER_PERIOD0 + 4 * code
        out[name] = PeriodSeries(ser[b], ser[b + 1], ser[b + 2] > 0.5, ser[b + 3] > 0.5)
    return out


def _sessions(config: SMCConfig, sess_ser: F64) -> dict[str, SessionSeries]:
    out = {}
    for k, spec in enumerate(config.sessions):
        high = sess_ser[k, 0]
        out[spec.name] = SessionSeries(~np.isnan(high), high, sess_ser[k, 1])
    return out


def analyze(candles: Candles, config: SMCConfig | None = None) -> SMCResult:
    """The full indicator set (every concept and every per-bar series)."""
    cfg = config if config is not None else SMCConfig()
    ev, ser, sess_ser = _run(candles, cfg, ALL, series=True, sessions=True)
    parts = split_by_kind(ev)
    return SMCResult(
        swings=swing_table(parts),
        breaks=break_table(parts),
        order_blocks=order_block_table(parts),
        fvgs=fvg_table(parts),
        liquidity=liquidity_table(parts),
        period_breaks=period_break_table(parts),
        structure=StructureSeries(ser[SER_TREND].astype(np.int64), ser[SER_RANGE_HI], ser[SER_RANGE_LO]),
        retracements=RetracementSeries(
            ser[SER_RETR_DIR].astype(np.int64), ser[SER_RETR_CUR], ser[SER_RETR_DEEP]
        ),
        atr=ser[SER_ATR],
        periods=_periods(ser),
        sessions=_sessions(cfg, sess_ser),
        events=ev,
    )


def event_log(candles: Candles, config: SMCConfig | None = None, concepts: frozenset[str] = ALL) -> F64:
    """The raw kernel event log of `analyze`, computing only `concepts` (closed over their dependencies:
    ``order_blocks`` needs ``structure`` and ``swings``; ``structure`` and ``liquidity`` need ``swings``).

    Its rows are exactly `analyze(candles, config).events` restricted to the event kinds of the enabled
    concepts, in the same order (each concept's events do not depend on the concepts left out); no
    per-bar series, tables or session offsets are computed. With every concept it is `analyze`'s log."""
    cfg = config if config is not None else SMCConfig()
    ev, _, _ = _run(candles, cfg, frozenset(concepts), series=False, sessions="sessions" in concepts)
    return ev


def swings(candles: Candles, config: SMCConfig | None = None) -> SwingTable:
    cfg = config or SMCConfig()
    return SwingTable(*run_swings(cfg.swing_length, candles.high, candles.low))


def _structure_columns(candles: Candles, config: SMCConfig, with_obs: bool) -> tuple[npt.NDArray[Any], ...]:
    return run_structure(
        config.swing_length,
        config.structure_break == BreakSource.WICK,
        with_obs,
        config.ob_invalidation == BreakSource.WICK,
        config.max_active,
        candles.high,
        candles.low,
        candles.close,
        candles.volume,
    )


def structure(candles: Candles, config: SMCConfig | None = None) -> BreakTable:
    """BOS / CHoCH breaks (see `analyze(...).structure` for the per-bar trend)."""
    cols = _structure_columns(candles, config or SMCConfig(), False)
    return BreakTable(*cols[:5])


def order_blocks(candles: Candles, config: SMCConfig | None = None) -> OrderBlockTable:
    cols = _structure_columns(candles, config or SMCConfig(), True)
    return OrderBlockTable(np.arange(cols[5].shape[0], dtype=np.int64), *cols[5:])


def fvgs(candles: Candles, config: SMCConfig | None = None) -> FVGTable:
    cfg = config or SMCConfig()
    cols = run_fvgs(
        cfg.atr_length,
        cfg.fvg_min_size_atr,
        int(cfg.fvg_mitigation),
        cfg.fvg_join_consecutive,
        cfg.max_active,
        candles.high,
        candles.low,
        candles.close,
    )
    return FVGTable(np.arange(cols[0].shape[0], dtype=np.int64), *cols)


def liquidity(candles: Candles, config: SMCConfig | None = None) -> LiquidityTable:
    cfg = config or SMCConfig()
    cols = run_liquidity(
        cfg.swing_length,
        cfg.atr_length,
        cfg.liquidity_tolerance_atr,
        cfg.max_active,
        candles.high,
        candles.low,
        candles.close,
    )
    return LiquidityTable(np.arange(cols[0].shape[0], dtype=np.int64), *cols)


def previous_high_low(candles: Candles, config: SMCConfig | None = None) -> dict[str, PeriodSeries]:
    """Previous UTC day / ISO week / calendar month high and low per bar, with break flags."""
    prev_hi, prev_lo, broken_hi, broken_lo = run_periods(candles.ts_ms, candles.high, candles.low)
    return {
        name: PeriodSeries(prev_hi[code], prev_lo[code], broken_hi[code], broken_lo[code])
        for code, name in enumerate(("D", "W", "M"))
    }


def sessions(candles: Candles, config: SMCConfig | None = None) -> dict[str, SessionSeries]:
    cfg = config or SMCConfig()
    specs = cfg.sessions
    n = len(candles)
    windows = np.array([(spec.start_minute, spec.end_minute) for spec in specs], dtype=np.int64).reshape(
        -1, 2
    )
    high = np.empty((len(specs), n))
    low = np.empty((len(specs), n))
    run_sessions(
        windows, local_offsets(candles.ts_ms, specs), candles.ts_ms, candles.high, candles.low, high, low
    )
    return {spec.name: SessionSeries(~np.isnan(high[k]), high[k], low[k]) for k, spec in enumerate(specs)}


def retracements(candles: Candles, config: SMCConfig | None = None) -> RetracementSeries:
    cfg = config or SMCConfig()
    return RetracementSeries(*run_retracements(cfg.swing_length, candles.high, candles.low))


def premium_discount(candles: Candles, config: SMCConfig | None = None) -> StructureSeries:
    """Dealing range per bar; `.equilibrium` and `.zone(close)` give premium / discount."""
    cfg = config or SMCConfig()
    wick = cfg.structure_break == BreakSource.WICK
    return StructureSeries(*run_trend_range(cfg.swing_length, wick, candles.high, candles.low, candles.close))
