"""An order a venue ends after filling it in part, as the unmodified ccxt client reads it.

Bybit spot names such an order ``PartiallyFilledCanceled`` (a market order the venue stopped filling,
a partly filled limit order canceled; a spot ``Cancelled`` order filled nothing) and ccxt maps that to
``closed``, the status of a full fill, for less than its quantity. Reported FILLED, the trading engine
booked the part as a fill that did not end the order: it stayed open in its books forever and a
bracketed entry never got its exits. A ``closed`` order short of its quantity by lots is CANCELED with
what it filled. A quote-denominated market buy whose change the venue could not spend ends the same
way; ccxt gives it the quantity it filled, and it stays FILLED."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from smc_agent.core.candle import Candle
from smc_agent.core.enums import OrderSide, OrderStatus
from smc_agent.core.ids import InstrumentId
from smc_agent.live.wiring import close_execution
from smc_agent.strategy.base import Strategy
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator
from tests.engine.harness import Scripted
from tests.venues.conftest import open_gateway
from tests.venues.simkit import sim_config
from tests.venues.test_exits_on_spot import Live
from tests.venues.test_gateway import _iid, _order

CENT = Decimal("0.01")


@pytest.fixture
async def bybit() -> AsyncIterator[CcxtGateway]:
    """A Bybit gateway whose ccxt client has loaded the simulator's markets (lot step 0.00001)."""
    async with ExchangeSimulator(sim_config("bybit")) as sim, open_gateway(sim, "bybit") as gw:
        await gw.load_instruments()
        yield gw


def _bybit_order(status: str, qty: str, executed: str, leaves: str, **extra: str) -> dict[str, Any]:
    """A Bybit v5 spot order record (GET /v5/order/history) as the venue sends it."""
    return {
        "orderId": "1900000000000000001",
        "orderLinkId": "smc-e1",
        "symbol": "BTCUSDT",
        "price": "0",
        "qty": qty,
        "side": "Buy",
        "isLeverage": "0",
        "positionIdx": 0,
        "orderStatus": status,
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": "61000.5",
        "leavesQty": leaves,
        "leavesValue": "0",
        "cumExecQty": executed,
        "cumExecValue": str(Decimal(executed) * Decimal("61000.5")),
        "cumExecFee": "0",
        "timeInForce": "IOC",
        "orderType": "Market",
        "stopOrderType": "",
        "triggerPrice": "0",
        "takeProfit": "0",
        "stopLoss": "0",
        "createdTime": "1731996334812",
        "updatedTime": "1731996334815",
        **extra,
    }


def _read(gw: CcxtGateway, record: dict[str, Any]) -> tuple[OrderStatus, Decimal, Decimal]:
    """(status, quantity, filled) of the gateway's report of ``record``, parsed by ccxt itself."""
    raw = gw.exchange.parse_order(record, gw.exchange.market("BTC/USDT"))
    report = gw._report(InstrumentId("bybit", "BTC/USDT"), raw)
    return report.status, report.qty, report.filled_qty


@pytest.mark.parametrize(
    "case",
    [
        # (qty, cumExecQty, leavesQty, side, marketUnit)
        ("0.01", "0.004", "0", "Buy", "baseCoin"),  # the gateway's market buy (ccxt asks base units)
        ("0.01", "0.004", "0.006", "Sell", ""),  # a market sell, remainder listed
        ("0.01", "0.00999", "0", "Sell", ""),  # one lot short
    ],
)
async def test_a_bybit_order_ended_after_a_partial_fill_is_canceled_with_its_fill(
    bybit: CcxtGateway, case: tuple[str, str, str, str, str]
) -> None:
    qty, executed, leaves, side, unit = case
    record = _bybit_order("PartiallyFilledCanceled", qty, executed, leaves, side=side, marketUnit=unit)
    assert bybit.exchange.parse_order(record)["status"] == "closed"  # ccxt's reading
    assert _read(bybit, record) == (OrderStatus.CANCELED, Decimal(qty), Decimal(executed))


async def test_a_partly_filled_limit_order_canceled_on_bybit_spot_is_canceled(bybit: CcxtGateway) -> None:
    record = _bybit_order(
        "PartiallyFilledCanceled", "0.5", "0.12", "0", orderType="Limit", price="60000", timeInForce="GTC"
    )
    assert _read(bybit, record) == (OrderStatus.CANCELED, Decimal("0.5"), Decimal("0.12"))


@pytest.mark.parametrize(
    "case",
    [
        # (orderStatus, qty, cumExecQty, leavesQty, marketUnit)
        ("Filled", "0.01", "0.01", "0", "baseCoin"),
        # float noise well below the lot step is no shortfall
        ("Filled", "0.01", "0.009999999999", "0", "baseCoin"),
        # a market buy of 100 USDT (quote units): the change the venue could not spend ends it
        # PartiallyFilledCanceled; ccxt takes its quantity as what it filled: a full fill
        ("PartiallyFilledCanceled", "100", "0.00163", "0", "quoteCoin"),
        ("PartiallyFilledCanceled", "100", "0.00163", "0", ""),
    ],
)
async def test_a_full_fill_stays_filled(bybit: CcxtGateway, case: tuple[str, str, str, str, str]) -> None:
    status, qty, executed, leaves, unit = case
    got_status, _, filled = _read(bybit, _bybit_order(status, qty, executed, leaves, marketUnit=unit))
    assert (got_status, filled) == (OrderStatus.FILLED, Decimal(executed))


async def test_cancelled_and_rejected_after_a_partial_fill_end_canceled(bybit: CcxtGateway) -> None:
    """A spot ``Cancelled`` was already CANCELED; one refused after filling in part ended canceled too
    (REJECTED would not follow a fill in the trading engine's books)."""
    cancelled = _bybit_order("Cancelled", "0.01", "0.004", "0.006", orderType="Limit", price="60000")
    rejected = _bybit_order("Rejected", "0.01", "0.005", "0.005", orderType="Limit", price="60000")
    untouched = _bybit_order("Rejected", "0.01", "0", "0.01", orderType="Limit", price="60000")
    assert _read(bybit, cancelled)[0] is OrderStatus.CANCELED
    assert _read(bybit, rejected) == (OrderStatus.CANCELED, Decimal("0.01"), Decimal("0.005"))
    assert _read(bybit, untouched)[0] is OrderStatus.REJECTED


@pytest.mark.parametrize("raw_status", ["EXPIRED", "EXPIRED_IN_MATCH"])
async def test_a_binance_order_expired_after_a_partial_fill_is_expired_with_its_fill(raw_status: str) -> None:
    """Binance ends an IOC order it filled in part EXPIRED (EXPIRED_IN_MATCH: self-trade prevention);
    ccxt reads both "expired", which ends the order in the engine's books with its fill."""
    async with ExchangeSimulator(sim_config("binance")) as sim, open_gateway(sim, "binance") as gw:
        await gw.load_instruments()
        record = {
            "symbol": "BTCUSDT",
            "orderId": 28,
            "orderListId": -1,
            "clientOrderId": "smc-e2",
            "price": "61000.00",
            "origQty": "0.01000",
            "executedQty": "0.00400",
            "cummulativeQuoteQty": "244.00",
            "status": raw_status,
            "timeInForce": "IOC",
            "type": "LIMIT",
            "side": "BUY",
            "time": 1731996334812,
            "updateTime": 1731996334815,
        }
        raw = gw.exchange.parse_order(record, gw.exchange.market("BTC/USDT"))
        report = gw._report(InstrumentId("binance", "BTC/USDT"), raw)
    assert (report.status, report.filled_qty) == (OrderStatus.EXPIRED, Decimal("0.004"))


async def test_the_rest_of_a_partly_filled_bybit_order_canceled_reports_canceled() -> None:
    """The simulator ends it as Bybit spot does (PartiallyFilledCanceled); the cancel's report and a
    later lookup say CANCELED with the part filled, not FILLED."""
    config = sim_config("bybit", participation=Decimal("0.00003"))
    async with ExchangeSimulator(config) as sim, open_gateway(sim, "bybit") as gw:
        iid = _iid(gw)
        upcoming = sim.state.feeds["BTCUSDT"].bars[500:560]
        price = (max(b.high for b in upcoming) - 1).quantize(CENT)  # reached within the hour
        placed = await gw.submit_order(_order(gw, "big-sell", OrderSide.SELL, "0.5", str(price)))
        for _ in range(60):
            sim.step(1)
            if (await gw.fetch_order(iid, venue_order_id=placed.venue_order_id)).filled_qty:
                break
        canceled = await gw.cancel_order(iid, venue_order_id=placed.venue_order_id)
        again = await gw.fetch_order(iid, venue_order_id=placed.venue_order_id)
        venue_order = sim.state.book.orders[int(placed.venue_order_id)]
    assert 0 < venue_order.filled < Decimal("0.5")
    for report in (canceled, again):
        assert (report.status, report.filled_qty) == (OrderStatus.CANCELED, venue_order.filled)


async def test_an_entry_whose_rest_bybit_canceled_ends_and_gets_its_exits(migrated_sqlite_url: str) -> None:
    """A resting bracketed entry fills in part on Bybit; the trading engine cancels its rest (the part
    must not wait unprotected). Reported FILLED for the part, the entry stayed open in the engine's
    books and the position never got its stop and target. It ends canceled and they go out for the
    part filled."""
    venue = "bybit"
    balances = (("USDT", Decimal(100_000)), ("BTC", Decimal(0)))
    config = sim_config(venue, balances=balances, participation=Decimal("0.00003"))  # ~6% of 0.01 a bar
    async with ExchangeSimulator(config) as sim:
        bars = sim.state.feeds["BTCUSDT"].bars
        limit = (min(b.low for b in bars[500:560]) + 1).quantize(CENT)  # reached within the hour
        stop = (min(b.low for b in bars[500:800]) - 200).quantize(CENT)  # never reached
        target = (max(b.high for b in bars[500:800]) + 200).quantize(CENT)  # never reached

        def entry(s: Strategy, c: Candle) -> None:
            s.buy(qty=0.01, price=float(limit), stop_loss=stop, take_profit=target)

        live = Live(sim, venue, migrated_sqlite_url, Scripted({0: entry}))
        try:
            sl, tp = await live.enter(sim, venue)
            order = next(iter(live.engine.orders.orders.values()))
            for _ in range(60):
                await live.run(sim, 1)
                if order.filled_qty:
                    break
            for _ in range(3):  # the trim's cancel reaches the venue; its report comes back
                await live.run(sim, 0)
            assert 0 < order.filled_qty < Decimal("0.01")
            assert order.status is OrderStatus.CANCELED and live.status(order.client_order_id) == "canceled"
            assert live.engine.orders.get(order.client_order_id) not in live.engine.orders.open_orders()
            assert (live.status(sl), live.status(tp)) == ("accepted", "accepted")
        finally:
            await close_execution(live.execution)
