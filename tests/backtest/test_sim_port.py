from decimal import Decimal

import pytest

from smc_agent.backtest.sim_port import SimulatedVenuePort
from smc_agent.backtest.sim_venue import SimulatedVenue
from smc_agent.core.candle import Candle
from smc_agent.core.clock import TestClock
from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.errors import InvalidOrder, OrderNotFound
from smc_agent.core.ids import ClientOrderId, StrategyId
from smc_agent.core.ports import VenuePort
from tests.engine.harness import INST


def order(cid: str, qty: str = "1", price: str | None = "99") -> SubmitOrder:
    return SubmitOrder(
        ts_event=0,
        ts_init=0,
        strategy_id=StrategyId("s"),
        instrument_id=INST.id,
        client_order_id=ClientOrderId(cid),
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT if price else OrderType.MARKET,
        qty=Decimal(qty),
        price=Decimal(price) if price else None,
    )


async def test_simulated_venue_speaks_the_venue_port() -> None:
    clock = TestClock(0)
    port = SimulatedVenuePort(SimulatedVenue(clock=clock, instruments=[INST], starting_cash=Decimal(10_000)))
    assert isinstance(port, VenuePort)
    report = await port.submit_order(order("a"))
    assert report.status is OrderStatus.ACCEPTED and report.venue_order_id
    assert await port.submit_order(order("a")) == report  # idempotent
    with pytest.raises(InvalidOrder, match="lot step"):
        await port.submit_order(order("b", qty="0.0001"))
    assert [r.client_order_id for r in await port.fetch_open_orders()] == ["a"]
    clock.set_time(60_000)
    port.on_candle(Candle("sim", "BTC/USDT", "1m", 0, 100, 100, 98.5, 99, 10))
    done = await port.fetch_order(INST.id, client_order_id=ClientOrderId("a"))
    assert (done.status, done.filled_qty, done.avg_fill_price) == (
        OrderStatus.FILLED,
        Decimal(1),
        Decimal(99),
    )
    (fill,) = await port.fetch_fills(INST.id)
    assert fill.price == Decimal(99)
    (balance,) = await port.fetch_balances()
    assert balance.free == Decimal(10_000) - Decimal(99) - fill.fee
    assert len(await port.fetch_candles(INST.id, "1m")) == 1
    with pytest.raises(OrderNotFound):
        await port.fetch_order(INST.id, client_order_id=ClientOrderId("zzz"))
    await port.submit_order(order("c", price="90"))
    canceled = await port.cancel_order(INST.id, client_order_id=ClientOrderId("c"))
    assert canceled.status is OrderStatus.CANCELED
