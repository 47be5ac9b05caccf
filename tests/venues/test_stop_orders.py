"""Stop orders (the engine's protective ``-sl`` children) through the gateway and the simulator of
each venue: the request ccxt sends carries the venue's stop fields, the stop rests untriggered,
triggers when the replayed price crosses it, fills, is reported, and can be canceled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from smc_agent.core import errors
from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator
from tests.venues.conftest import open_gateway

CENT = Decimal("0.01")
QTY = Decimal("0.01")


def _stop(
    gw: CcxtGateway,
    cid: str,
    trigger: Decimal,
    price: Decimal | None = None,
    side: OrderSide = OrderSide.SELL,
) -> SubmitOrder:
    return SubmitOrder(
        strategy_id=StrategyId("t"),
        instrument_id=InstrumentId(gw.venue, "BTC/USDT"),
        client_order_id=ClientOrderId(cid),
        side=side,
        order_type=OrderType.STOP_MARKET if price is None else OrderType.STOP_LIMIT,
        qty=QTY,
        price=price,
        trigger_price=trigger,
        reduce_only=True,
        ts_event=0,
        ts_init=0,
    )


@pytest.fixture
def sent(gateway: CcxtGateway) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, params) of every request ccxt signs: what goes to the venue."""
    log: list[tuple[str, str, dict[str, Any]]] = []
    exchange = gateway.exchange
    original = exchange.sign

    def sign(path: str, *args: Any, **kwargs: Any) -> Any:
        method = args[1] if len(args) > 1 else kwargs.get("method", "GET")
        params = args[2] if len(args) > 2 else kwargs.get("params", {})
        log.append((path, method, dict(params)))
        return original(path, *args, **kwargs)

    exchange.sign = sign
    return log


@pytest.fixture
async def fresh_gateway(sim: ExchangeSimulator, venue: str) -> AsyncIterator[CcxtGateway]:
    """A second gateway that has never seen our orders (as after a restart)."""
    async with open_gateway(sim, venue) as gw:
        yield gw


def _crossed_trigger(sim: ExchangeSimulator, candles: int = 60) -> Decimal:
    """A sell-stop trigger below the current price that the next ``candles`` candles trade through."""
    upcoming = sim.state.feeds["BTCUSDT"].bars[500 : 500 + candles]
    trigger = (min(b.low for b in upcoming) + 1).quantize(CENT)
    assert trigger < sim.state.last_price("BTCUSDT")
    return trigger


def _orders(sent: list[tuple[str, str, dict[str, Any]]], method: str) -> list[dict[str, Any]]:
    return [
        p for path, m, p in sent if m == method and path in ("order", "v5/order/create", "v5/order/cancel")
    ]


async def test_stop_market_rests_triggers_fills_and_is_reported(
    gateway: CcxtGateway, sim: ExchangeSimulator, venue: str, sent: list[tuple[str, str, dict[str, Any]]]
) -> None:
    iid = InstrumentId(venue, "BTC/USDT")
    trigger = _crossed_trigger(sim)
    report = await gateway.submit_order(_stop(gateway, "e1-sl", trigger))
    assert report.status is OrderStatus.ACCEPTED and report.order_type is OrderType.STOP_MARKET
    assert report.client_order_id == "e1-sl" and report.filled_qty == 0

    (request,) = _orders(sent, "POST")
    if venue == "binance":  # spot STOP_LOSS with stopPrice, no price
        assert request["type"] == "STOP_LOSS" and request["stopPrice"] == str(trigger)
        assert request["quantity"] == "0.01" and request["side"] == "SELL" and "price" not in request
        assert request["newClientOrderId"] == "e1-sl"
    else:  # spot conditional order: orderFilter StopOrder + triggerPrice (the venue infers the direction)
        assert request["orderFilter"] == "StopOrder" and request["triggerPrice"] == str(trigger)
        assert request["orderType"] == "Market" and request["category"] == "spot"
        assert request["qty"] == "0.01" and request["marketUnit"] == "baseCoin"
        assert request["orderLinkId"] == "e1-sl" and "triggerDirection" not in request

    (working,) = await gateway.fetch_open_orders(iid)
    assert working.order_type is OrderType.STOP_MARKET and working.status is OrderStatus.ACCEPTED
    (sim_order,) = sim.state.book.open_orders("BTCUSDT")
    assert sim_order.waiting_trigger
    # Binance reserves the holdings of a stop when it is placed, Bybit when it triggers
    assert sim.state.book.balance("BTC").locked == (QTY if venue == "binance" else 0)

    sim.step(60)
    filled = await gateway.fetch_order(iid, client_order_id=ClientOrderId("e1-sl"))
    assert filled.status is OrderStatus.FILLED and filled.filled_qty == QTY
    assert filled.order_type is OrderType.STOP_MARKET
    assert filled.avg_fill_price is not None and filled.avg_fill_price <= trigger
    assert await gateway.fetch_open_orders(iid) == []
    (fill,) = await gateway.fetch_fills(iid)
    assert fill.venue_order_id == report.venue_order_id and fill.side is OrderSide.SELL and fill.qty == QTY
    balances = {b.currency: b for b in await gateway.fetch_balances()}
    assert balances["BTC"].total == Decimal("0.99") and balances["BTC"].locked == 0


async def test_stop_limit_triggers_into_a_limit_that_fills(
    gateway: CcxtGateway, sim: ExchangeSimulator, venue: str, sent: list[tuple[str, str, dict[str, Any]]]
) -> None:
    iid = InstrumentId(venue, "BTC/USDT")
    trigger = _crossed_trigger(sim)
    limit = trigger - 10
    report = await gateway.submit_order(_stop(gateway, "e2-sl", trigger, limit))
    assert report.status is OrderStatus.ACCEPTED and report.order_type is OrderType.STOP_LIMIT
    assert report.price == limit

    (request,) = _orders(sent, "POST")
    if venue == "binance":
        assert request["type"] == "STOP_LOSS_LIMIT" and request["stopPrice"] == str(trigger)
        assert request["price"] == str(limit) and request["timeInForce"] == "GTC"
    else:
        assert request["orderFilter"] == "StopOrder" and request["triggerPrice"] == str(trigger)
        assert request["orderType"] == "Limit" and request["price"] == str(limit)

    sim.step(60)
    filled = await gateway.fetch_order(iid, venue_order_id=report.venue_order_id)
    assert filled.status is OrderStatus.FILLED and filled.order_type is OrderType.STOP_LIMIT
    assert filled.avg_fill_price is not None and limit <= filled.avg_fill_price <= trigger


async def test_triggered_stop_limit_rests_as_triggered_and_cancels(
    gateway: CcxtGateway, sim: ExchangeSimulator, venue: str
) -> None:
    iid = InstrumentId(venue, "BTC/USDT")
    trigger = _crossed_trigger(sim)
    unreachable = (max(b.high for b in sim.state.feeds["BTCUSDT"].bars[500:620]) + 100).quantize(CENT)
    report = await gateway.submit_order(_stop(gateway, "e3-sl", trigger, unreachable))
    assert report.status is OrderStatus.ACCEPTED
    sim.step(60)
    (working,) = await gateway.fetch_open_orders(iid)
    assert working.status is OrderStatus.TRIGGERED and working.filled_qty == 0
    canceled = await gateway.cancel_order(iid, client_order_id=ClientOrderId("e3-sl"))
    assert canceled.status is OrderStatus.CANCELED
    balances = {b.currency: b for b in await gateway.fetch_balances()}
    assert balances["BTC"].free == 1 and balances["BTC"].locked == 0


async def test_untriggered_stop_cancels_even_for_a_gateway_that_never_saw_it(
    gateway: CcxtGateway,
    fresh_gateway: CcxtGateway,
    sim: ExchangeSimulator,
    venue: str,
    sent: list[tuple[str, str, dict[str, Any]]],
) -> None:
    iid = InstrumentId(venue, "BTC/USDT")
    trigger = (sim.state.last_price("BTCUSDT") * Decimal("0.9")).quantize(CENT)
    report = await gateway.submit_order(_stop(gateway, "e4-sl", trigger))
    canceled = await fresh_gateway.cancel_order(iid, venue_order_id=report.venue_order_id)
    assert canceled.status is OrderStatus.CANCELED and canceled.order_type is OrderType.STOP_MARKET
    assert await gateway.fetch_open_orders(iid) == []
    sim.step(120)  # a canceled stop never triggers
    assert (await gateway.fetch_order(iid, venue_order_id=report.venue_order_id)).filled_qty == 0
    assert sim.state.book.balance("BTC").free == 1

    report = await gateway.submit_order(_stop(gateway, "e5-sl", trigger - 100))
    sent.clear()
    canceled = await gateway.cancel_order(iid, venue_order_id=report.venue_order_id)
    assert canceled.status is OrderStatus.CANCELED
    (request,) = _orders(sent, "POST") if venue == "bybit" else _orders(sent, "DELETE")
    if venue == "bybit":  # a known stop is canceled as a conditional order at once
        assert request["orderFilter"] == "StopOrder" and request["orderId"] == report.venue_order_id


@pytest.mark.parametrize("venue", ["bybit"])  # a Bybit rule: runs for that venue only, not skipped
async def test_bybit_spot_cancel_of_a_conditional_order_needs_its_order_filter(
    sim: ExchangeSimulator, gateway: CcxtGateway, venue: str
) -> None:
    trigger = (sim.state.last_price("BTCUSDT") * Decimal("0.9")).quantize(CENT)
    report = await gateway.submit_order(_stop(gateway, "e6-sl", trigger))
    with pytest.raises(Exception, match="170213"):
        await gateway.exchange.cancel_order(report.venue_order_id, "BTC/USDT")  # orderFilter=Order
    raw = await gateway.exchange.fetch_open_orders("BTC/USDT")
    info = raw[0]["info"]
    assert info["orderStatus"] == "Untriggered" and info["stopOrderType"] == "Stop"
    assert info["triggerPrice"] == str(trigger) and info["triggerDirection"] == 2


async def test_buy_stop_triggers_on_a_rising_price(
    gateway: CcxtGateway, sim: ExchangeSimulator, venue: str
) -> None:
    iid = InstrumentId(venue, "BTC/USDT")
    upcoming = sim.state.feeds["BTCUSDT"].bars[500:560]
    trigger = (max(b.high for b in upcoming) - 1).quantize(CENT)
    assert trigger > sim.state.last_price("BTCUSDT")
    report = await gateway.submit_order(_stop(gateway, "e7-sl", trigger, side=OrderSide.BUY))
    assert report.status is OrderStatus.ACCEPTED
    sim.step(60)
    filled = await gateway.fetch_order(iid, venue_order_id=report.venue_order_id)
    assert filled.status is OrderStatus.FILLED and filled.avg_fill_price is not None
    assert filled.avg_fill_price >= trigger


async def test_stop_that_would_trigger_at_once_is_refused(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    """Binance refuses a sell STOP_LOSS above the price (-2010, would trigger immediately). Bybit spot
    infers the direction from the side of the market: above the price it would wait for a rise, a stop
    no more; the gateway refuses it before sending it (it used to be accepted)."""
    above = (sim.state.last_price("BTCUSDT") * Decimal("1.05")).quantize(CENT)
    with pytest.raises(errors.WouldTriggerImmediately, match="would trigger immediately"):
        await gateway.submit_order(_stop(gateway, "e8-sl", above))  # a kind the execution engine tells apart
    assert sim.state.book.open_orders("BTCUSDT") == []


async def test_stop_without_trigger_or_off_tick_is_refused_before_sending(
    gateway: CcxtGateway, sent: list[tuple[str, str, dict[str, Any]]]
) -> None:
    cmd = _stop(gateway, "e9-sl", Decimal("30000.005"))
    with pytest.raises(errors.InvalidOrder):
        await gateway.submit_order(cmd)
    no_trigger = SubmitOrder(
        strategy_id=StrategyId("t"),
        instrument_id=InstrumentId(gateway.venue, "BTC/USDT"),
        client_order_id=ClientOrderId("e10-sl"),
        side=OrderSide.SELL,
        order_type=OrderType.STOP_MARKET,
        qty=QTY,
        ts_event=0,
        ts_init=0,
    )
    with pytest.raises(errors.InvalidOrder):
        await gateway.submit_order(no_trigger)
    assert _orders(sent, "POST") == []
