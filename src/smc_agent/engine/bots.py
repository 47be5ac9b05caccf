"""A bot: one strategy instance bound to one instrument and base timeframe, plus its runtime state."""

from __future__ import annotations

from collections.abc import Callable

from smc_agent.core.enums import TradingState
from smc_agent.core.ids import InstrumentId, StrategyId
from smc_agent.engine.aggregator import CandleAggregator
from smc_agent.execution.ids import signal_ids
from smc_agent.strategy.base import Strategy


class Bot:
    __slots__ = (
        "aggregators",
        "annotations",
        "client_ids",
        "instrument_id",
        "on_candle",
        "on_event",
        "on_filled",
        "seq",
        "signal_ts",
        "state",
        "strategy",
        "strategy_id",
        "timeframe",
    )

    def __init__(
        self, strategy: Strategy, strategy_id: StrategyId, instrument_id: InstrumentId, timeframe: str
    ) -> None:
        self.strategy = strategy
        self.strategy_id = strategy_id
        self.instrument_id = instrument_id
        self.timeframe = timeframe
        self.aggregators = [CandleAggregator(timeframe, tf) for tf in strategy.timeframes]
        self.on_candle = strategy.on_candle  # bound once: the hook of every candle
        self.state = TradingState.ACTIVE
        self.signal_ts = 0  # open time of the candle being processed (part of client order ids)
        self.seq = 0  # orders sent while processing that candle
        self.annotations: list[dict[str, object]] = []
        self.client_ids = signal_ids(strategy_id=strategy_id, instrument_id=instrument_id)
        # order hooks the strategy overrides (None: the base class's no-op, not worth a guarded call)
        self.on_filled = _overridden(strategy.on_order_filled, Strategy.on_order_filled)
        self.on_event = _overridden(strategy.on_order_event, Strategy.on_order_event)


def _overridden(hook: Callable[..., None], base: Callable[..., None]) -> Callable[..., None] | None:
    return None if getattr(hook, "__func__", None) is base else hook
