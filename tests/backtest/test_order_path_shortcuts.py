"""Shortcuts on the order path leave every order, fill and statistic as the full path makes them."""

from __future__ import annotations

from typing import Any

import pytest

from smc_agent.backtest import runner
from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.core.events import OrderSubmitted
from smc_agent.engine.engine import TradingEngine
from smc_agent.risk.config import RiskConfig
from smc_agent.strategy.smc_structure import SmcStructure
from tests.backtest._data import load_candles


def _run(
    monkeypatch: pytest.MonkeyPatch, *, subscribe_submitted: bool
) -> tuple[Any, TradingEngine, list[Any]]:
    engines: list[TradingEngine] = []
    submitted: list[OrderSubmitted] = []
    stop = TradingEngine.stop

    def keep(self: TradingEngine) -> None:
        engines.append(self)
        stop(self)

    subscribe = runner._Recorder.subscribe

    def subscribe_more(self: Any, bus: Any) -> None:
        subscribe(self, bus)
        if subscribe_submitted:
            bus.subscribe(OrderSubmitted, submitted.append)

    with monkeypatch.context() as m:
        m.setattr(TradingEngine, "stop", keep)
        m.setattr(runner._Recorder, "subscribe", subscribe_more)
        data = load_candles(
            "binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m"
        )
        data = data.between(None, int(data.open_time[6000]))
        # max_open_orders=1 also makes the gate deny some protective orders (denied orders are never
        # submitted: their state must not depend on the shortcut either)
        config = BacktestConfig(risk=RiskConfig(max_open_orders=1, max_drawdown=None, daily_loss_limit=None))
        result = run_backtest(SmcStructure(), data, config)
    return result, engines[0], submitted


def _order_state(engine: TradingEngine) -> list[tuple[Any, ...]]:
    return [
        (cid, o.status, o.ts_last, o.filled_qty, o.avg_fill_price, o.venue_order_id, o.reason, o.tag)
        for cid, o in engine.orders.orders.items()
    ]


def test_order_submitted_only_when_subscribed_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a subscriber the engine applies the submission to the order directly instead of
    building and dispatching an ``OrderSubmitted``; with one, it publishes the event as before."""
    plain, plain_engine, none = _run(monkeypatch, subscribe_submitted=False)
    full, full_engine, events = _run(monkeypatch, subscribe_submitted=True)
    assert none == []
    assert len(events) == sum(1 for o in full.orders if o["status"] != "denied") > 10
    assert any(o["status"] == "denied" for o in full.orders)
    assert _order_state(plain_engine) == _order_state(full_engine)
    assert list(plain_engine.orders.recent_times) == list(full_engine.orders.recent_times)
    assert list(plain_engine.orders._open) == list(full_engine.orders._open)
    assert plain.orders == full.orders
    assert plain.trades == full.trades and len(plain.trades) > 3
    assert plain.fills == full.fills
    assert plain.stats == full.stats
    assert [t.entry_tag for t in plain.trades] == [t.entry_tag for t in full.trades]
