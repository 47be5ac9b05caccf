"""Typed, frozen configuration of the causal SMC indicator set.

One `SMCConfig` drives both the batch functions and `SMCStream`, so the two always agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class FVGMitigation(IntEnum):
    """Which price inside a fair value gap mitigates it."""

    TOUCH = 0  # price enters the gap (wick reaches the near edge)
    HALF = 1  # price reaches the midpoint of the gap
    FULL = 2  # price fills the gap completely (reaches the far edge)


class BreakSource(IntEnum):
    """Which price breaks a level."""

    CLOSE = 0
    WICK = 1


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """A trading session or kill zone: local wall-clock window [start, end) in a named time zone.

    The window may wrap midnight (start > end). DST is handled by `zoneinfo`.
    """

    name: str
    tz: str
    start: str  # "HH:MM" local time, inclusive
    end: str  # "HH:MM" local time, exclusive

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("SessionSpec.name must not be empty")
        for label, value in (("start", self.start), ("end", self.end)):
            if not _HHMM.match(value):
                raise ValueError(f"SessionSpec {self.name!r}: {label}={value!r} is not HH:MM")
        if self.start == self.end:
            raise ValueError(f"SessionSpec {self.name!r}: start equals end")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"SessionSpec {self.name!r}: unknown time zone {self.tz!r}") from exc

    @property
    def start_minute(self) -> int:
        hours, minutes = self.start.split(":")
        return int(hours) * 60 + int(minutes)

    @property
    def end_minute(self) -> int:
        hours, minutes = self.end.split(":")
        return int(hours) * 60 + int(minutes)


# ICT conventions: sessions in their home time zone, kill zones in New York time (DST-aware).
DEFAULT_SESSIONS: tuple[SessionSpec, ...] = (
    SessionSpec("Asia", "Asia/Tokyo", "09:00", "15:00"),
    SessionSpec("London", "Europe/London", "08:00", "16:30"),
    SessionSpec("New York", "America/New_York", "09:30", "16:00"),
    SessionSpec("Asian kill zone", "America/New_York", "20:00", "00:00"),
    SessionSpec("London open kill zone", "America/New_York", "02:00", "05:00"),
    SessionSpec("New York open kill zone", "America/New_York", "07:00", "10:00"),
    SessionSpec("London close kill zone", "America/New_York", "10:00", "12:00"),
)


@dataclass(frozen=True, slots=True)
class SMCConfig:
    """Parameters of every concept. All prices are compared in float64.

    swing_length: bars on EACH side of a pivot; a swing is confirmed `swing_length` bars after it forms.
    structure_break: close or wick beyond the swing level breaks structure (BOS/CHoCH).
    ob_invalidation: close or wick beyond the far edge of an order block invalidates it.
    fvg_min_size_atr: minimum gap height as a multiple of ATR at the confirming bar (0 = any gap).
    fvg_mitigation: touch / half / full fill mitigates a gap.
    fvg_join_consecutive: a gap confirmed on the bar right after a same-direction active gap absorbs it.
    atr_length: Wilder ATR length (running mean of true range for the first `atr_length` bars).
    liquidity_tolerance_atr: two swings are "equal" if within this many ATRs (ATR at confirmation).
    sessions: sessions / kill zones tracked (high/low of the running session instance).
    max_active: per-kind cap of tracked objects; beyond it the oldest is dropped (never happens on
        realistic data with the default, it bounds memory).
    """

    swing_length: int = 5
    structure_break: BreakSource = BreakSource.CLOSE
    ob_invalidation: BreakSource = BreakSource.CLOSE
    fvg_min_size_atr: float = 0.0
    fvg_mitigation: FVGMitigation = FVGMitigation.TOUCH
    fvg_join_consecutive: bool = False
    atr_length: int = 14
    liquidity_tolerance_atr: float = 0.1
    sessions: tuple[SessionSpec, ...] = field(default=DEFAULT_SESSIONS)
    max_active: int = 256

    def __post_init__(self) -> None:
        if not 1 <= self.swing_length <= 500:
            raise ValueError(f"swing_length must be in 1..500, got {self.swing_length}")
        if self.atr_length < 1:
            raise ValueError(f"atr_length must be >= 1, got {self.atr_length}")
        if not self.fvg_min_size_atr >= 0.0:
            raise ValueError(f"fvg_min_size_atr must be >= 0, got {self.fvg_min_size_atr}")
        if not self.liquidity_tolerance_atr >= 0.0:
            raise ValueError(f"liquidity_tolerance_atr must be >= 0, got {self.liquidity_tolerance_atr}")
        if not 4 <= self.max_active <= 100_000:
            raise ValueError(f"max_active must be in 4..100000, got {self.max_active}")
        names = [s.name for s in self.sessions]
        if len(set(names)) != len(names):
            raise ValueError(f"session names must be unique, got {names}")
        object.__setattr__(self, "structure_break", BreakSource(self.structure_break))
        object.__setattr__(self, "ob_invalidation", BreakSource(self.ob_invalidation))
        object.__setattr__(self, "fvg_mitigation", FVGMitigation(self.fvg_mitigation))
