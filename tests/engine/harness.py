"""A tiny engine + simulated venue rig driven by hand-written candles (no data files)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.sim_venue import SimulatedVenue
from smc_agent.core.candle import Candle
from smc_agent.core.clock import TestClock
from smc_agent.core.events import Event
from smc_agent.core.instrument import Instrument
from smc_agent.engine.engine import TradingEngine
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.gate import RiskGate
from smc_agent.strategy.base import Strategy

TF_MS = 60_000
INST = Instrument("sim", "BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.001"))


class Scripted(Strategy):
    """Runs ``script[i](self, candle)`` on the i-th base candle."""

    timeframes: tuple[str, ...] = ()

    def __init__(self, script: dict[int, Callable[[Strategy, Candle], Any]] | None = None) -> None:
        super().__init__()
        self.script = script or {}
        self.seen: list[Candle] = []
        self.fills: list[Any] = []
        self.order_events: list[Any] = []

    def on_candle(self, candle: Candle) -> None:
        self.seen.append(candle)
        if candle.timeframe == self.timeframe:
            action = self.script.get(sum(1 for c in self.seen if c.timeframe == self.timeframe) - 1)
            if action is not None:
                action(self, candle)

    def on_order_filled(self, event: Any, **kwargs: Any) -> None:
        self.fills.append(event)

    def on_order_event(self, event: Any, **kwargs: Any) -> None:
        self.order_events.append(event)


class Rig:
    def __init__(
        self,
        strategy: Strategy,
        *,
        fill_model: FillModel | None = None,
        risk: RiskConfig | None = None,
        cash: str = "100000",
        spot: bool = False,
        more: dict[str, Strategy] | None = None,  # other bots on the instrument, by strategy id
    ) -> None:
        self.clock = TestClock(0)
        self.venue = SimulatedVenue(
            clock=self.clock,
            instruments=[INST],
            starting_cash=Decimal(cash),
            fill_model=fill_model or FillModel(maker_fee=Decimal("0.001"), taker_fee=Decimal("0.002")),
            spot=spot,
        )
        self.engine = TradingEngine(
            clock=self.clock,
            client=self.venue,
            instruments=[INST],
            risk=RiskGate(risk or RiskConfig.permissive()),
            starting_cash=Decimal(cash),
        )
        self.events: list[Event] = []
        self.engine.bus.subscribe(Event, self.events.append)
        self.strategy = strategy
        self.engine.add_strategy(strategy, instrument_id=INST.id, timeframe="1m", strategy_id="bot")
        for sid, other in (more or {}).items():
            self.engine.add_strategy(other, instrument_id=INST.id, timeframe="1m", strategy_id=sid)
        self.engine.start()
        self.i = 0

    def bar(self, o: float, h: float, lo: float, c: float, v: float = 100.0) -> None:
        t = self.i * TF_MS
        self.clock.set_time(t + TF_MS)
        self.engine.on_candle(Candle("sim", "BTC/USDT", "1m", t, o, h, lo, c, v))
        self.i += 1

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
