"""Streaming SMC indicator set: one CLOSED candle in, the events it produced out.

Usage (the trading engine)::

    from smc_agent.smc.stream import SMCStream
    from smc_agent.smc.config import SMCConfig

    smc = SMCStream(SMCConfig(swing_length=5))
    for candle in closed_candles:
        events = smc.update(candle.open, candle.high, candle.low, candle.close, candle.volume, candle.ts_ms)
        for event in events:   # typed, frozen dataclasses from smc_agent.smc.events
            ...
        smc.trend, smc.active_order_blocks, smc.active_fvgs, smc.liquidity_pools, smc.dealing_range

Contract (stable names and shapes):

- `SMCStream(config: SMCConfig = SMCConfig())`.
- `update(open, high, low, close, volume, ts_ms) -> list[SMCEvent]` for one closed candle; `ts_ms` is the
  candle OPEN time in epoch milliseconds (UTC) and must increase strictly. Bad input raises `ValueError`
  naming the bar index and the problem; the state is left unchanged in that case.
- Event types (`smc_agent.smc.events`): `SwingConfirmed`, `StructureBroken` (kind "BOS" / "CHOCH",
  direction), `OrderBlockFormed`, `OrderBlockMitigated`, `OrderBlockInvalidated`, `FVGFormed`,
  `FVGMitigated`, `FVGMerged`, `LiquidityFormed`, `LiquiditySwept`, `PeriodLevelBroken`. Each has `bar`
  (0-based index of the candle that produced it) and `ts_ms`. Events of one candle come in this order:
  order block lifecycle, FVG mitigation, liquidity sweeps, period breaks, swings, structure breaks
  (each followed by its order block), new FVG.
- State (read-only properties, as known after the last candle): `bars` (count), `trend` (+1 / -1 / 0),
  `atr`, `active_order_blocks` (not yet mitigated), `tracked_order_blocks` (mitigated or not, not yet
  invalidated), `active_fvgs` (unmitigated), `liquidity_pools` (unswept equal highs / lows),
  `dealing_range` (`DealingRange` or None; `.equilibrium`, `.zone(price)` -> premium / discount),
  `retracement`, `previous_levels` (dict "D" / "W" / "M" -> `PeriodLevels`), `sessions`
  (`SessionState` per configured session).
- Cost: O(1) amortised per candle, memory O(active objects); the same compiled kernel runs
  `smc_agent.smc.batch.analyze` (the single-output batch functions run dedicated loops tested equal
  to it), so streaming equals batch bar for bar.
"""

from __future__ import annotations

import math
from typing import cast

from .config import SMCConfig
from .decode import decode_event, fvgs_from_table, order_blocks_from_table, pools_from_table
from .events import (
    PERIODS,
    DealingRange,
    Direction,
    FairValueGap,
    LiquidityPool,
    OrderBlock,
    PeriodLevels,
    Retracement,
    SessionState,
    SMCEvent,
)
from .kernel.layout import (
    F_ATR,
    F_PERIOD0,
    F_RANGE_HI,
    F_RANGE_LO,
    F_RETR_CUR,
    F_RETR_DEEP,
    I_BAR,
    I_N_FVG,
    I_N_OB,
    I_N_POOL,
    I_PERIOD0,
    I_RANGE_HI_BAR,
    I_RANGE_LO_BAR,
    I_RETR_DIR,
    I_TREND,
    S_ACTIVE,
    S_HIGH,
    S_LOW,
)
from .kernel.state import ALL, KernelState
from .kernel.stream_step import stream_step
from .session_time import OffsetClock

__all__ = ["SMCConfig", "SMCStream"]


class SMCStream:
    """The full causal SMC indicator set, fed one closed candle at a time."""

    def __init__(self, config: SMCConfig | None = None, *, concepts: frozenset[str] = ALL) -> None:
        self._config = config if config is not None else SMCConfig()
        self._st = KernelState.new(self._config, concepts)
        self._ev = self._st.event_buffer()
        self._clock = OffsetClock(self._config.sessions, out=self._st.offsets)
        self._last_ts: int | None = None
        self._last_ts_ms: float = -math.inf  # the same as a number, for the fast input check

    @property
    def config(self) -> SMCConfig:
        return self._config

    def update(  # noqa: PLR0917  (the engine's positional candle contract)
        self, open: float, high: float, low: float, close: float, volume: float, ts_ms: int
    ) -> list[SMCEvent]:
        """Feed one closed candle; return the events it produced (possibly empty)."""
        rows = self.update_rows(open, high, low, close, volume, ts_ms)
        if not rows:
            return []
        ts = int(ts_ms)
        return [decode_event(row, ts) for row in rows]

    def update_rows(  # noqa: PLR0917  (the engine's positional candle contract)
        self, open: float, high: float, low: float, close: float, volume: float, ts_ms: int
    ) -> list[list[float]]:
        """`update` without building the event objects: the kernel records of the events this candle
        produced (columns `kernel.layout.EV_*`), in the same order; `decode_event(row, int(ts_ms))` of
        each record is the event `update` returns. For consumers that read a few fields of many events."""
        ts = int(ts_ms)
        # fast path of `_check` (NaN fails every comparison; inf fails `< math.inf`)
        if not (
            0.0 <= low <= open <= high < math.inf
            and low <= close <= high
            and 0.0 <= volume < math.inf
            and ts > self._last_ts_ms
        ):
            self._check(int(self._st.is_[I_BAR]), open, high, low, close, volume, ts_ms)
        st = self._st
        self._clock.offsets(ts)  # fills st.offsets
        n = stream_step(st.fbuf, st.ibuf, self._ev, float(high), float(low), float(close), float(volume), ts)
        self._last_ts = ts
        self._last_ts_ms = ts
        if n == 0:
            return []
        return cast(list[list[float]], self._ev[:n].tolist())

    def _check(  # noqa: PLR0917
        self, bar: int, o: float, h: float, lo: float, c: float, v: float, ts_ms: int
    ) -> None:
        for name, value in (("open", o), ("high", h), ("low", lo), ("close", c), ("volume", v)):
            if not math.isfinite(value):
                raise ValueError(f"bar {bar}: {name} is not a finite number ({value!r})")
            if value < 0.0:
                raise ValueError(f"bar {bar}: {name} is negative ({value!r})")
        if h < lo:
            raise ValueError(f"bar {bar}: high {h} < low {lo}")
        if not lo <= o <= h or not lo <= c <= h:
            raise ValueError(f"bar {bar}: open {o} / close {c} outside [low {lo}, high {h}]")
        if self._last_ts is not None and int(ts_ms) <= self._last_ts:
            raise ValueError(
                f"bar {bar}: timestamp {int(ts_ms)} is not after the previous candle's {self._last_ts}"
            )

    # ------------------------------------------------------------------ state

    @property
    def bars(self) -> int:
        """Number of candles processed."""
        return int(self._st.is_[I_BAR])

    @property
    def trend(self) -> int:
        """+1 after a bullish break, -1 after a bearish break, 0 before the first break."""
        return int(self._st.is_[I_TREND])

    @property
    def atr(self) -> float:
        return float(self._st.fs[F_ATR])

    @property
    def tracked_order_blocks(self) -> list[OrderBlock]:
        """Order blocks not yet invalidated (mitigated ones included, with `mitigated_at`)."""
        return order_blocks_from_table(self._st.obs, int(self._st.is_[I_N_OB]))

    @property
    def active_order_blocks(self) -> list[OrderBlock]:
        """Order blocks neither mitigated nor invalidated."""
        return [ob for ob in self.tracked_order_blocks if ob.mitigated_at is None]

    @property
    def active_fvgs(self) -> list[FairValueGap]:
        return fvgs_from_table(self._st.fvgs, int(self._st.is_[I_N_FVG]))

    @property
    def liquidity_pools(self) -> list[LiquidityPool]:
        return pools_from_table(self._st.pools, int(self._st.is_[I_N_POOL]))

    @property
    def dealing_range(self) -> DealingRange | None:
        fs, is_ = self._st.fs, self._st.is_
        if is_[I_RANGE_HI_BAR] < 0 or is_[I_RANGE_LO_BAR] < 0:
            return None
        return DealingRange(
            float(fs[F_RANGE_HI]), float(fs[F_RANGE_LO]), int(is_[I_RANGE_HI_BAR]), int(is_[I_RANGE_LO_BAR])
        )

    @property
    def retracement(self) -> Retracement | None:
        fs, is_ = self._st.fs, self._st.is_
        direction = int(is_[I_RETR_DIR])
        if direction == 0 or math.isnan(fs[F_RETR_CUR]):
            return None
        d: Direction = 1 if direction > 0 else -1
        return Retracement(d, float(fs[F_RETR_CUR]), float(fs[F_RETR_DEEP]))

    @property
    def previous_levels(self) -> dict[str, PeriodLevels]:
        """Previous complete UTC day / ISO week / calendar month high and low (absent before one exists)."""
        fs, is_ = self._st.fs, self._st.is_
        out: dict[str, PeriodLevels] = {}
        for code, name in enumerate(PERIODS):
            fb, ib = F_PERIOD0 + 4 * code, I_PERIOD0 + 4 * code
            if is_[ib + 3] == 1:
                out[name] = PeriodLevels(
                    name, float(fs[fb + 2]), float(fs[fb + 3]), bool(is_[ib + 1]), bool(is_[ib + 2])
                )
        return out

    @property
    def sessions(self) -> list[SessionState]:
        out = []
        for k, spec in enumerate(self._config.sessions):
            row = self._st.sess[k]
            active = bool(row[S_ACTIVE] > 0.5)
            out.append(
                SessionState(
                    spec.name,
                    active,
                    float(row[S_HIGH]) if active else None,
                    float(row[S_LOW]) if active else None,
                )
            )
        return out
