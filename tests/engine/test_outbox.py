from decimal import Decimal

from smc_agent.core.candle import Candle
from smc_agent.core.clock import TestClock
from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderStatus
from smc_agent.core.events import OrderAccepted, OrderFilled
from smc_agent.core.ids import TradeId, VenueOrderId
from smc_agent.engine.engine import TradingEngine
from smc_agent.engine.outbox import OutboxClient
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.gate import RiskGate
from tests.engine.harness import INST, Scripted


def test_live_client_ships_commands_and_applies_venue_events() -> None:
    clock = TestClock(0)
    client = OutboxClient()
    engine = TradingEngine(
        clock=clock,
        client=client,
        instruments=[INST],
        risk=RiskGate(RiskConfig()),
        starting_cash=Decimal(10_000),
    )
    strategy = Scripted({0: lambda s, c: s.buy(qty=0.5, stop_loss=95, tag="live")})
    engine.add_strategy(strategy, instrument_id=INST.id, timeframe="1m", strategy_id="bot")
    engine.start()
    clock.set_time(60_000)
    engine.on_candle(Candle("sim", "BTC/USDT", "1m", 0, 100, 101, 99, 100, 5))
    (cmd,) = client.drain()
    assert (
        isinstance(cmd, SubmitOrder) and cmd.qty == Decimal("0.500") and cmd.reference_price == Decimal("100")
    )
    assert client.drain() == []
    common = dict(
        ts_event=61_000,
        ts_init=61_000,
        strategy_id=cmd.strategy_id,
        instrument_id=cmd.instrument_id,
        client_order_id=cmd.client_order_id,
    )
    client.deliver(OrderAccepted(**common, venue_order_id=VenueOrderId("v1")))  # type: ignore[arg-type]
    client.deliver(
        OrderFilled(
            **common,
            venue_order_id=VenueOrderId("v1"),
            trade_id=TradeId("t1"),  # type: ignore[arg-type]
            side=cmd.side,
            qty=cmd.qty,
            price=Decimal("100.5"),
            fee=Decimal("0.05"),
            fee_currency="USDT",
            liquidity=LiquiditySide.TAKER,
        )
    )
    order = engine.orders.get(cmd.client_order_id)
    assert order is not None and order.status is OrderStatus.FILLED
    assert engine.portfolio.position(INST.id).qty == Decimal("0.500")
    (stop,) = client.drain()  # the protective stop-loss follows the fill
    assert isinstance(stop, SubmitOrder) and stop.reduce_only and stop.trigger_price == Decimal("95")
