"""Validation and repair of candle series; every change is recorded as a :class:`Repair`.

Rules, applied in this order:

1. ``non_finite``: a candle with a NaN/inf price or volume is dropped (its slot becomes a gap).
2. ``off_grid``: an open time not on the timeframe grid is snapped down onto it. Binance's hourly
   candles after the February 2018 outage open at ``hh:28:14.789``; they are the hourly candles of
   ``hh:00`` and are stored there.
3. ``out_of_order``: the series is sorted by open time.
4. ``duplicate``: of several candles with one open time the first on-grid one is kept (an on-grid
   candle wins over a snapped one).
5. ``ohlc_violation``: high/low are widened to contain open and close (never narrowed).
6. ``negative_volume``: set to 0.
7. ``gap``: missing candles are reported; with ``fill_gaps`` they are filled with flat candles at
   the previous close and zero volume (recorded as ``gap_filled``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smc_agent.core.candle import Candle, timeframe_ms


@dataclass(frozen=True, slots=True)
class Repair:
    kind: str
    open_time: int
    detail: str


@dataclass(frozen=True, slots=True)
class RepairResult:
    candles: list[Candle]
    repairs: list[Repair]

    def count(self, kind: str) -> int:
        return sum(1 for r in self.repairs if r.kind == kind)


def repair_candles(candles: Iterable[Candle], timeframe: str, *, fill_gaps: bool = False) -> RepairResult:
    tf = timeframe_ms(timeframe)
    repairs: list[Repair] = []
    staged: list[tuple[int, bool, int, Candle]] = []  # (open_time, snapped, arrival, candle)
    previous_time: int | None = None
    out_of_order = False
    for arrival, c in enumerate(candles):
        if not all(math.isfinite(v) for v in (c.open, c.high, c.low, c.close, c.volume)):
            repairs.append(
                Repair(
                    "non_finite",
                    c.open_time,
                    f"dropped o={c.open} h={c.high} l={c.low} c={c.close} v={c.volume}",
                )
            )
            continue
        if min(c.open, c.high, c.low, c.close) <= 0:  # no trade happens at a price of 0 or less
            repairs.append(
                Repair("non_positive", c.open_time, f"dropped o={c.open} h={c.high} l={c.low} c={c.close}")
            )
            continue
        if previous_time is not None and c.open_time < previous_time:
            out_of_order = True
        previous_time = c.open_time
        snapped_time = c.open_time - c.open_time % tf
        was_snapped = snapped_time != c.open_time
        if was_snapped:
            repairs.append(
                Repair("off_grid", snapped_time, f"open time {c.open_time} snapped to {snapped_time}")
            )
        staged.append((snapped_time, was_snapped, arrival, c._replace(open_time=snapped_time)))
    if out_of_order:
        repairs.append(Repair("out_of_order", staged[0][0] if staged else 0, "series sorted by open time"))
    staged.sort(key=lambda s: (s[0], s[1], s[2]))
    out: list[Candle] = []
    for open_time, _snapped, _arrival, c in staged:
        if out and out[-1].open_time == open_time:
            repairs.append(Repair("duplicate", open_time, f"dropped duplicate close={c.close}"))
            continue
        out.append(_fix_values(c, repairs))
    return RepairResult(_fill(out, tf, repairs, fill_gaps), repairs)


def _fix_values(c: Candle, repairs: list[Repair]) -> Candle:
    high, low = max(c.high, c.open, c.close, c.low), min(c.low, c.open, c.close, c.high)
    if (high, low) != (c.high, c.low):
        repairs.append(Repair("ohlc_violation", c.open_time, f"high {c.high}->{high}, low {c.low}->{low}"))
        c = c._replace(high=high, low=low)
    if c.volume < 0:
        repairs.append(Repair("negative_volume", c.open_time, f"volume {c.volume}->0"))
        c = c._replace(volume=0.0)
    return c


def _fill(candles: list[Candle], tf: int, repairs: list[Repair], fill_gaps: bool) -> list[Candle]:
    out: list[Candle] = []
    for c in candles:
        if out and c.open_time - out[-1].open_time > tf:
            missing = (c.open_time - out[-1].open_time) // tf - 1
            repairs.append(Repair("gap", out[-1].open_time + tf, f"{missing} candle(s) missing"))
            if fill_gaps:
                prev = out[-1]
                for k in range(1, missing + 1):
                    t = prev.open_time + k * tf
                    out.append(
                        prev._replace(
                            open_time=t, open=prev.close, high=prev.close, low=prev.close, volume=0.0
                        )
                    )
                    repairs.append(Repair("gap_filled", t, f"flat candle at {prev.close}"))
        out.append(c)
    return out


def find_problems(candles: Sequence[Candle], timeframe: str) -> list[Repair]:
    """What :func:`repair_candles` would change, without changing anything."""
    return repair_candles(candles, timeframe).repairs
