"""SMC structure strategy.

* **Bias** from higher-timeframe market structure: the direction of the last BOS/CHoCH on ``htf``.
* **Entry** when price retraces into a base-timeframe order block or FVG of the bias direction (the
  zone's mitigation event) while price sits in the discount half of the dealing range for longs
  (premium for shorts): a market order at the next open. Not when the zone failed on that candle: an
  order block invalidated by it, or a close beyond the zone's far edge (below a bullish zone's bottom,
  above a bearish zone's top).
* **Stop** beyond the zone (``stop_buffer`` x zone height further), **target** at the nearest opposing
  liquidity pool if it pays at least ``min_rr``, else ``rr`` times the risk.
* One position at a time; sizing by the engine (fraction of equity at risk to the stop).

All state comes from SMC events (no per-candle reads of indicator tables), so the strategy is O(1)
per candle on top of the indicator set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.events import (
    FVGFormed,
    FVGMitigated,
    LiquidityFormed,
    LiquiditySwept,
    OrderBlockFormed,
    OrderBlockInvalidated,
    OrderBlockMitigated,
    StructureBroken,
    SwingConfirmed,
)
from smc_agent.smc.kernel.layout import (
    EV_A,
    EV_B,
    EV_BAR,
    EV_DIR,
    EV_FIELDS,
    EV_ID,
    EV_KIND,
    K_BOS,
    K_CHOCH,
    K_FVG_MITIGATED,
    K_FVG_NEW,
    K_LIQ_NEW,
    K_LIQ_SWEPT,
    K_OB_INVALIDATED,
    K_OB_MITIGATED,
    K_OB_NEW,
    K_SWING,
)
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param

# the event types this strategy reads (its sources compute only the concepts that emit them)
_LTF_KINDS = (
    FVGFormed,
    FVGMitigated,
    OrderBlockMitigated,
    SwingConfirmed,
    OrderBlockFormed,
    OrderBlockInvalidated,
    LiquidityFormed,
    LiquiditySwept,
)
_HTF_KINDS = (StructureBroken,)

# the fields of a kernel record the rows path reads, per event type: kind, id, direction, A, B
_RECORD: dict[type, Callable[[Any], tuple[int, int, int, float, float]]] = {
    FVGFormed: lambda e: (K_FVG_NEW, e.gap.id, e.gap.direction, e.gap.top, e.gap.bottom),
    FVGMitigated: lambda e: (K_FVG_MITIGATED, e.gap_id, e.direction, 0.0, 0.0),
    OrderBlockMitigated: lambda e: (K_OB_MITIGATED, e.block_id, e.direction, 0.0, 0.0),
    SwingConfirmed: lambda e: (K_SWING, 0, e.direction, e.price, 0.0),
    OrderBlockFormed: lambda e: (K_OB_NEW, e.block.id, e.block.direction, e.block.top, e.block.bottom),
    OrderBlockInvalidated: lambda e: (K_OB_INVALIDATED, e.block_id, e.direction, 0.0, 0.0),
    LiquidityFormed: lambda e: (K_LIQ_NEW, e.pool.id, e.pool.direction, e.pool.level, 0.0),
    LiquiditySwept: lambda e: (K_LIQ_SWEPT, e.pool_id, e.direction, e.level, 0.0),
}


def _record(ev: Any) -> list[float]:
    """The kernel record (columns ``EV_*``) of an event the strategy reads, with the fields it reads."""
    kind, id_, direction, a, b = _RECORD[type(ev)](ev)
    row = [0.0] * EV_FIELDS
    row[EV_KIND], row[EV_BAR], row[EV_ID], row[EV_DIR], row[EV_A], row[EV_B] = (
        kind,
        ev.bar,
        id_,
        direction,
        a,
        b,
    )
    return row


class SmcStructure(Strategy):
    name: ClassVar[str] = "smc"
    timeframes = ("1h",)  # replaced per instance by ``(htf,)``

    htf = Param(
        str, "1h", help="higher timeframe for the structural bias (longer than the candles', e.g. 4h on 1h)"
    )
    swing_length = Param(int, 5, low=1, high=100, help="swing length on the base timeframe")
    htf_swing_length = Param(int, 5, low=1, high=100, help="swing length on the higher timeframe")
    rr = Param(float, 2.0, low=0.5, high=20.0, help="target as a multiple of the risk (fallback)")
    min_rr = Param(float, 1.5, low=0.1, high=20.0, help="minimum reward/risk to use a liquidity target")
    stop_buffer = Param(float, 0.1, low=0.0, high=2.0, help="stop beyond the zone, in zone heights")
    min_risk = Param(float, 0.005, low=0.0, high=0.2, help="minimum stop distance as a fraction of price")
    use_fvg = Param(bool, True, help="enter on FVG retraces too (not only order blocks)")
    max_zone_age = Param(int, 200, low=1, high=100_000, help="ignore zones older than this many bars")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.timeframes = (self.htf,)  # the one higher timeframe the engine builds from the candles

    def check_params(self) -> None:
        try:
            timeframe_ms(self.htf)
        except ValueError as exc:
            raise ValueError(f"htf: {exc}") from None

    def on_start(self, **kwargs: Any) -> None:
        if timeframe_ms(self.htf) <= timeframe_ms(self.timeframe):
            raise ValueError(f"htf {self.htf} must be longer than the base timeframe {self.timeframe}")
        self._ltf = self.smc(self.timeframe, SMCConfig(swing_length=self.swing_length), kinds=_LTF_KINDS)
        self._htf = self.smc(self.htf, SMCConfig(swing_length=self.htf_swing_length), kinds=_HTF_KINDS)
        self.bias = 0
        self._swing_high = float("nan")
        self._swing_low = float("nan")
        self._zones: dict[tuple[str, int], tuple[float, float, int, int]] = {}  # -> top, bottom, dir, bar
        self._pools_high: dict[int, float] = {}  # buy-side liquidity (equal highs)
        self._pools_low: dict[int, float] = {}  # sell-side liquidity (equal lows)
        # the sources' kernel records when they serve them (both built-in sources do): the same
        # events without an object per event; a provider's source without ``rows`` gets the events
        ltf_rows = getattr(self._ltf, "rows", None)
        htf_rows = getattr(self._htf, "rows", None)
        both = ltf_rows is not None and htf_rows is not None
        self._ltf_rows: Callable[[Candle], list[list[float]]] | None = ltf_rows if both else None
        self._htf_rows: Callable[[Candle], list[list[float]]] | None = htf_rows if both else None

    def on_candle(self, candle: Candle) -> None:
        """Reads the sources' kernel records (no object per event); sources without ``rows`` go through
        ``_on_candle_events``, which turns their events into the same records."""
        ltf_rows = self._ltf_rows
        if ltf_rows is None:
            self._on_candle_events(candle)
            return
        if candle.timeframe != self.timeframe:
            if candle.timeframe == self.htf:
                for r in self._htf_rows(candle):  # type: ignore[misc]
                    if r[EV_KIND] in (K_BOS, K_CHOCH):
                        self.bias = 1 if r[EV_DIR] > 0 else -1
            return
        rows = ltf_rows(candle)
        if rows:
            self._on_rows(candle, rows)

    def _on_rows(self, candle: Candle, rows: list[list[float]]) -> None:
        """One base candle's events, as kernel records: zones, swings and pools, then maybe an entry."""
        signal: tuple[str, float, float, int] | None = None
        signal_id = -1
        zones = self._zones
        for r in rows:  # most frequent kinds first
            kind = r[EV_KIND]
            if kind in (K_FVG_MITIGATED, K_OB_MITIGATED):
                key = ("fvg" if kind == K_FVG_MITIGATED else "ob", int(r[EV_ID]))
                zone = zones.pop(key, None)
                if (
                    zone is not None
                    and zone[2] == self.bias
                    and int(r[EV_BAR]) - zone[3] <= self.max_zone_age
                    # held at the close: not closed beyond its far edge
                    and (candle.close >= zone[1] if zone[2] > 0 else candle.close <= zone[0])
                ):
                    signal = (key[0], zone[0], zone[1], zone[2])
                    signal_id = int(r[EV_ID])
            elif kind == K_FVG_NEW:
                if self.use_fvg:
                    zones["fvg", int(r[EV_ID])] = (
                        r[EV_A],
                        r[EV_B],
                        1 if r[EV_DIR] > 0 else -1,
                        int(r[EV_BAR]),
                    )
            elif kind == K_SWING:
                if r[EV_DIR] > 0:
                    self._swing_high = r[EV_A]
                else:
                    self._swing_low = r[EV_A]
            elif kind == K_OB_NEW:
                zones["ob", int(r[EV_ID])] = (r[EV_A], r[EV_B], 1 if r[EV_DIR] > 0 else -1, int(r[EV_BAR]))
            elif kind == K_OB_INVALIDATED:
                zones.pop(("ob", int(r[EV_ID])), None)
                if signal is not None and signal[0] == "ob" and signal_id == int(r[EV_ID]):
                    signal = None  # the block it retraced into broke on the same candle
            elif kind == K_LIQ_NEW:
                (self._pools_high if r[EV_DIR] > 0 else self._pools_low)[int(r[EV_ID])] = r[EV_A]
            elif kind == K_LIQ_SWEPT:
                (self._pools_high if r[EV_DIR] > 0 else self._pools_low).pop(int(r[EV_ID]), None)
        if len(zones) > 512:  # unmitigated zones that aged out: keep memory bounded
            horizon = int(rows[-1][EV_BAR]) - self.max_zone_age
            for key in [k for k, z in zones.items() if z[3] < horizon]:
                del zones[key]
        if signal is not None and self.flat:
            self._enter(candle, *signal)

    def _on_candle_events(self, candle: Candle) -> None:
        """``on_candle`` for sources without ``rows``: their events, as the records the rows path reads."""
        if candle.timeframe != self.timeframe:
            if candle.timeframe == self.htf:
                for ev in self._htf.update(candle):
                    if isinstance(ev, StructureBroken):
                        self.bias = ev.direction
            return
        rows = [_record(ev) for ev in self._ltf.update(candle) if type(ev) in _RECORD]
        if rows:
            self._on_rows(candle, rows)

    def _enter(self, candle: Candle, kind: str, top: float, bottom: float, direction: int) -> None:
        price = candle.close
        hi, lo = self._swing_high, self._swing_low
        if not (hi > lo):
            return
        equilibrium = (hi + lo) / 2.0
        height = top - bottom
        if direction > 0:
            if price >= equilibrium:
                return  # longs only from discount
            stop = min(bottom - self.stop_buffer * height, price * (1.0 - self.min_risk))
            risk = price - stop
            if risk <= 0:
                return
            above = [lvl for lvl in self._pools_high.values() if lvl > price]
            target = min(above) if above else 0.0
            if not above or (target - price) < self.min_rr * risk:
                target = price + self.rr * risk
            sent = self.buy(stop_loss=stop, take_profit=target, tag=f"{kind}_long")
        else:
            if price <= equilibrium:
                return  # shorts only from premium
            stop = max(top + self.stop_buffer * height, price * (1.0 + self.min_risk))
            risk = stop - price
            if risk <= 0:
                return
            below = [lvl for lvl in self._pools_low.values() if lvl < price]
            target = max(below) if below else 0.0
            if not below or (price - target) < self.min_rr * risk:
                target = price - self.rr * risk
            if target <= 0:
                return
            sent = self.sell(stop_loss=stop, take_profit=target, tag=f"{kind}_short")
        if sent is None:
            return  # refused (risk gate, sizing): nothing to draw on the report
        self.annotate(
            kind,
            ts=candle.open_time,
            top=top,
            bottom=bottom,
            direction=direction,
            stop=stop,
            target=target,
            equilibrium=equilibrium,
            order=sent,  # a report leaves out the entries the venue then rejected
        )
