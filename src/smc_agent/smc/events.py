"""Typed, immutable SMC objects and events.

Bar indices are 0-based positions in the candle sequence fed to the indicator set (the n-th
`SMCStream.update` call, or the row of the batch arrays). Every object carries `formed_at` (the bar it
describes) and `confirmed_at` (the first bar at which it is knowable from bars 0..t). Every event carries
`bar` (the bar that produced it, == confirmed_at for creations) and `ts_ms` (that bar's open time).
Directions are +1 (bullish / high) and -1 (bearish / low).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

Direction = Literal[1, -1]
PeriodName = Literal["D", "W", "M"]
PERIODS: tuple[PeriodName, ...] = ("D", "W", "M")


class Zone(Enum):
    PREMIUM = "premium"
    DISCOUNT = "discount"
    EQUILIBRIUM = "equilibrium"


# ------------------------------------------------------------------ objects (state)


@dataclass(frozen=True, slots=True)
class OrderBlock:
    """The extreme candle before a structure break. Bullish: lowest-low candle between the broken swing
    high and the breaking candle; bearish: highest-high candle. Zone = that candle's [low, high]."""

    id: int
    direction: Direction
    top: float
    bottom: float
    formed_at: int
    confirmed_at: int
    volume: float  # volume of the breaking candle and the two before it
    strength: float  # min(v[t]+v[t-1], v[t-2]) / max(...) * 100 (100 when both are 0)
    mitigated_at: int | None = None  # first bar after confirmation that traded into the zone


@dataclass(frozen=True, slots=True)
class FairValueGap:
    """Three-candle imbalance; `formed_at` is the middle candle, `confirmed_at` the third."""

    id: int
    direction: Direction
    top: float
    bottom: float
    formed_at: int
    confirmed_at: int


@dataclass(frozen=True, slots=True)
class LiquidityPool:
    """Equal highs (direction +1) or equal lows (-1): two swings within the tolerance."""

    id: int
    direction: Direction
    level: float  # mean of the two swing prices
    top: float
    bottom: float
    first_at: int  # bar of the first swing
    formed_at: int  # bar of the second swing
    confirmed_at: int


@dataclass(frozen=True, slots=True)
class DealingRange:
    """Between the last confirmed swing high and swing low."""

    high: float
    low: float
    high_at: int
    low_at: int

    @property
    def equilibrium(self) -> float:
        return (self.high + self.low) / 2.0

    def zone(self, price: float) -> Zone:
        eq = self.equilibrium
        if price > eq:
            return Zone.PREMIUM
        if price < eq:
            return Zone.DISCOUNT
        return Zone.EQUILIBRIUM


@dataclass(frozen=True, slots=True)
class PeriodLevels:
    """High / low of the previous complete period (UTC) and whether the current period broke them."""

    period: PeriodName
    high: float
    low: float
    broken_high: bool
    broken_low: bool


@dataclass(frozen=True, slots=True)
class SessionState:
    """A session / kill zone: active now, and the running high / low of the current instance."""

    name: str
    active: bool
    high: float | None
    low: float | None


@dataclass(frozen=True, slots=True)
class Retracement:
    """How deep price went back into the dealing range since its last swing (% of the range)."""

    direction: Direction  # +1: last swing was a high (retracing down), -1: a low
    current: float
    deepest: float


# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class SwingConfirmed:
    bar: int
    ts_ms: int
    direction: Direction
    price: float
    formed_at: int


@dataclass(frozen=True, slots=True)
class StructureBroken:
    """BOS (break in the trend direction, or from no trend) or CHoCH (break against the trend)."""

    bar: int
    ts_ms: int
    kind: Literal["BOS", "CHOCH"]
    direction: Direction
    level: float
    swing_at: int  # bar of the swing whose level was broken


@dataclass(frozen=True, slots=True)
class OrderBlockFormed:
    bar: int
    ts_ms: int
    block: OrderBlock


@dataclass(frozen=True, slots=True)
class OrderBlockMitigated:
    bar: int
    ts_ms: int
    block_id: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class OrderBlockInvalidated:
    bar: int
    ts_ms: int
    block_id: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class FVGFormed:
    bar: int
    ts_ms: int
    gap: FairValueGap


@dataclass(frozen=True, slots=True)
class FVGMitigated:
    bar: int
    ts_ms: int
    gap_id: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class FVGMerged:
    """With `fvg_join_consecutive`: gap `gap_id` was absorbed by the new gap `into_id` (same bar)."""

    bar: int
    ts_ms: int
    gap_id: int
    into_id: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class LiquidityFormed:
    bar: int
    ts_ms: int
    pool: LiquidityPool


@dataclass(frozen=True, slots=True)
class LiquiditySwept:
    """Price traded beyond the pool's outer edge; `closed_back` True = rejection (a sweep), False = a run."""

    bar: int
    ts_ms: int
    pool_id: int
    direction: Direction
    level: float
    closed_back: bool


@dataclass(frozen=True, slots=True)
class PeriodLevelBroken:
    """First bar of the current period trading beyond the previous period's high (+1) or low (-1)."""

    bar: int
    ts_ms: int
    period: PeriodName
    direction: Direction
    level: float


SMCEvent = (
    SwingConfirmed
    | StructureBroken
    | OrderBlockFormed
    | OrderBlockMitigated
    | OrderBlockInvalidated
    | FVGFormed
    | FVGMitigated
    | FVGMerged
    | LiquidityFormed
    | LiquiditySwept
    | PeriodLevelBroken
)
