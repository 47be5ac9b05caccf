"""Dead-man switch: refreshed while trading may continue; once refreshing stops the venue cancels all."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.venues.deadman import DeadManKeeper
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator

WINDOW_S = {"binance": 2.0, "bybit": 3.0}  # Bybit accepts 3..300 s; ccxt spaces Binance refreshes 0.5 s


async def test_orders_survive_while_refreshed_and_are_cancelled_when_refreshing_stops(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    iid = InstrumentId(gateway.venue, "BTC/USDT")
    price = (sim.state.last_price("BTCUSDT") * Decimal("0.9")).quantize(Decimal("0.01"))
    order = await gateway.submit_order(
        SubmitOrder(
            strategy_id=StrategyId("t"),
            instrument_id=iid,
            client_order_id=ClientOrderId("dms-1"),
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            qty=Decimal("0.01"),
            price=price,
            ts_event=0,
            ts_init=0,
        )
    )
    window = WINDOW_S[gateway.venue]
    trading = {"ok": True}
    keeper = DeadManKeeper(
        gateway, [iid], window_s=window, may_trade=lambda: trading["ok"], refresh_every_s=window / 4
    )
    task = asyncio.create_task(keeper.run())
    try:
        await asyncio.sleep(window * 1.5)
        assert keeper.refreshes >= 2  # refreshed more than once within the window
        assert (
            await gateway.fetch_order(iid, venue_order_id=order.venue_order_id)
        ).status is OrderStatus.ACCEPTED
        trading["ok"] = False  # halted: the keeper stops refreshing
        stopped = time.monotonic()
        while not sim.deadman.fired and time.monotonic() - stopped < window + 2:
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert sim.deadman.fired and sim.deadman.fired[0][1] == 1
    assert time.monotonic() - stopped <= window + 0.5
    final = await gateway.fetch_order(iid, venue_order_id=order.venue_order_id)
    assert final.status is OrderStatus.CANCELED
