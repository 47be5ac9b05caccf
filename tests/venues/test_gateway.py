"""Every gateway method, with the unmodified ccxt client, against the simulator of each venue."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from smc_agent.core import errors
from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from smc_agent.core.ports import VenuePort
from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeSimulator
from tests.venues.simkit import sim_config


def _iid(gw: CcxtGateway) -> InstrumentId:
    return InstrumentId(gw.venue, "BTC/USDT")


def _order(
    gw: CcxtGateway,
    cid: str,
    side: OrderSide,
    qty: str,
    price: str | None = None,
    *,
    tif: TimeInForce = TimeInForce.GTC,
) -> SubmitOrder:
    return SubmitOrder(
        strategy_id=StrategyId("t"),
        instrument_id=_iid(gw),
        client_order_id=ClientOrderId(cid),
        side=side,
        order_type=OrderType.LIMIT if price else OrderType.MARKET,
        qty=Decimal(qty),
        price=Decimal(price) if price else None,
        time_in_force=tif,
        ts_event=0,
        ts_init=0,
    )


async def test_gateway_is_a_venue_port(gateway: CcxtGateway) -> None:
    assert isinstance(gateway, VenuePort)


async def test_load_instruments_carries_precision_and_limits(gateway: CcxtGateway) -> None:
    (inst,) = await gateway.load_instruments()
    assert (inst.venue, inst.symbol, inst.base, inst.quote) == (gateway.venue, "BTC/USDT", "BTC", "USDT")
    assert inst.price_increment == Decimal("0.01")
    assert inst.qty_increment == Decimal("0.00001")
    assert inst.min_notional == Decimal(5)


async def test_fetch_candles_returns_closed_candles_in_order(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    candles = await gateway.fetch_candles(_iid(gateway), "1m", limit=50)
    assert len(candles) == 50
    times = [c.open_time for c in candles]
    assert times == sorted(times) and len(set(times)) == 50
    assert all(b - a == 60_000 for a, b in itertools.pairwise(times))
    # the newest closed candle is the one just before the simulator's forming candle
    forming_open = sim.state.to_visible(sim.state.feeds["BTCUSDT"].bars[500].open_time)
    assert times[-1] == forming_open - 60_000
    bar = sim.state.feeds["BTCUSDT"].bars[499]
    assert (candles[-1].open, candles[-1].close) == (float(bar.open), float(bar.close))
    sim.step(3)
    newer = await gateway.fetch_candles(_iid(gateway), "1m", since_ms=times[-1])
    assert [c.open_time for c in newer] == [times[-1] + i * 60_000 for i in range(4)]


async def test_ticker_and_order_book(gateway: CcxtGateway, sim: ExchangeSimulator) -> None:
    ticker = await gateway.fetch_ticker(_iid(gateway))
    assert Decimal(str(ticker["last"])) == sim.state.last_price("BTCUSDT")
    book = await gateway.fetch_order_book(_iid(gateway), 5)
    assert book["bids"][0][0] < ticker["last"] < book["asks"][0][0]


async def test_limit_order_lifecycle(gateway: CcxtGateway, sim: ExchangeSimulator) -> None:
    iid = _iid(gateway)
    last = sim.state.last_price("BTCUSDT")
    price = str((last * Decimal("0.9")).quantize(Decimal("0.01")))
    report = await gateway.submit_order(_order(gateway, "c-1", OrderSide.BUY, "0.01", price))
    assert report.status is OrderStatus.ACCEPTED and report.client_order_id == "c-1"
    assert report.price == Decimal(price) and report.qty == Decimal("0.01")
    balances = {b.currency: b for b in await gateway.fetch_balances()}
    # a buy's fee is paid in the coin bought: it reserves the quote cost only
    assert balances["USDT"].locked == Decimal(price) * Decimal("0.01")
    assert [o.client_order_id for o in await gateway.fetch_open_orders(iid)] == ["c-1"]
    by_cid = await gateway.fetch_order(iid, client_order_id=ClientOrderId("c-1"))
    assert by_cid.venue_order_id == report.venue_order_id
    canceled = await gateway.cancel_order(iid, client_order_id=ClientOrderId("c-1"))
    assert canceled.status is OrderStatus.CANCELED
    assert await gateway.fetch_open_orders(iid) == []
    balances = {b.currency: b for b in await gateway.fetch_balances()}
    assert balances["USDT"].free == Decimal(100_000) and balances["USDT"].locked == 0


async def test_resting_order_fills_from_replayed_candles(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    iid = _iid(gateway)
    feed = sim.state.feeds["BTCUSDT"]
    upcoming = feed.bars[500:560]
    target = min(b.low for b in upcoming) + Decimal("1")  # traded through within the next hour
    report = await gateway.submit_order(_order(gateway, "c-fill", OrderSide.BUY, "0.01", str(target)))
    assert report.status is OrderStatus.ACCEPTED
    sim.step(60)
    filled = await gateway.fetch_order(iid, venue_order_id=report.venue_order_id)
    assert filled.status is OrderStatus.FILLED and filled.filled_qty == Decimal("0.01")
    assert filled.avg_fill_price is not None and filled.avg_fill_price <= target
    fills = await gateway.fetch_fills(iid)
    assert [f.venue_order_id for f in fills] == [report.venue_order_id]
    assert fills[0].qty == Decimal("0.01") and fills[0].fee > 0


async def test_market_order_fills_at_once(gateway: CcxtGateway, sim: ExchangeSimulator) -> None:
    report = await gateway.submit_order(_order(gateway, "m-1", OrderSide.SELL, "0.1"))
    assert report.status is OrderStatus.FILLED and report.filled_qty == Decimal("0.1")
    balances = {b.currency: b for b in await gateway.fetch_balances()}
    assert balances["BTC"].total == Decimal("0.9")
    expected_quote = Decimal("0.1") * sim.state.last_price("BTCUSDT") * Decimal("0.999")
    assert abs(balances["USDT"].total - Decimal(100_000) - expected_quote) < Decimal("0.01")


async def test_an_orders_fills_carry_the_fee_in_the_currency_the_venue_charged(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    """Binance and Bybit spot charge a buy's fee in the coin bought and a sell's in the quote currency;
    Binance's order report carries no fees, so they are read from the order's trades."""
    iid = _iid(gateway)
    buy = await gateway.submit_order(_order(gateway, "f-buy", OrderSide.BUY, "0.02"))
    sell = await gateway.submit_order(_order(gateway, "f-sell", OrderSide.SELL, "0.05"))
    (bought,) = await gateway.fetch_order_fills(iid, buy.venue_order_id)
    (sold,) = await gateway.fetch_order_fills(iid, sell.venue_order_id)
    assert (bought.venue_order_id, bought.qty, bought.fee, bought.fee_currency) == (
        buy.venue_order_id,
        Decimal("0.02"),
        Decimal("0.00002"),
        "BTC",
    )
    assert (sold.venue_order_id, sold.qty, sold.fee_currency) == (
        sell.venue_order_id,
        Decimal("0.05"),
        "USDT",
    )
    assert sold.fee == (sold.qty * sold.price * Decimal("0.001")).quantize(Decimal("0.00000001"))
    balances = {b.currency: b for b in await gateway.fetch_balances()}
    assert balances["BTC"].total == 1 + Decimal("0.02") - Decimal("0.00002") - Decimal("0.05")


async def test_submit_is_idempotent_on_client_order_id(gateway: CcxtGateway, sim: ExchangeSimulator) -> None:
    price = str((sim.state.last_price("BTCUSDT") * Decimal("0.8")).quantize(Decimal("0.01")))
    first = await gateway.submit_order(_order(gateway, "dup-1", OrderSide.BUY, "0.01", price))
    again = await gateway.submit_order(_order(gateway, "dup-1", OrderSide.BUY, "0.01", price))
    assert again.venue_order_id == first.venue_order_id
    assert len(sim.state.book.orders) == 1


async def test_insufficient_balance_from_the_venue(gateway: CcxtGateway, sim: ExchangeSimulator) -> None:
    price = str((sim.state.last_price("BTCUSDT") * Decimal("0.9")).quantize(Decimal("0.01")))
    with pytest.raises(errors.InsufficientFunds):
        await gateway.submit_order(_order(gateway, "too-big", OrderSide.BUY, "50", price))
    assert sim.state.book.orders == {}


@pytest.mark.parametrize(("cid", "qty"), [("bad-step", "0.0100001"), ("tiny", "0.00001")])
async def test_orders_violating_precision_or_limits_are_refused_before_sending(
    gateway: CcxtGateway, sim: ExchangeSimulator, cid: str, qty: str
) -> None:
    price = str((sim.state.last_price("BTCUSDT") * Decimal("0.9")).quantize(Decimal("0.01")))
    await gateway.load_instruments()
    with pytest.raises(errors.InvalidOrder):
        await gateway.submit_order(_order(gateway, cid, OrderSide.BUY, qty, price))
    assert not any("order" in path for path in sim.state.requests)


async def test_unknown_order_is_order_not_found(gateway: CcxtGateway) -> None:
    with pytest.raises(errors.OrderNotFound):
        await gateway.fetch_order(_iid(gateway), venue_order_id=VenueOrderId("424242"))
    with pytest.raises(errors.OrderNotFound):
        await gateway.cancel_order(_iid(gateway), venue_order_id=VenueOrderId("424242"))


async def test_rejected_orders_fault(gateway: CcxtGateway, sim: ExchangeSimulator) -> None:
    sim.fault(reject_orders=True)
    with pytest.raises(errors.RejectedError):
        await gateway.submit_order(_order(gateway, "r-1", OrderSide.SELL, "0.01"))
    assert sim.state.book.orders == {}


async def test_server_errors_and_outage_are_venue_unavailable(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    await gateway.load_instruments()
    sim.fault(errors_5xx=1)
    with pytest.raises(errors.VenueUnavailable):
        await gateway.fetch_balances()
    assert await gateway.fetch_balances()  # the next request is served again
    await sim.go_down()
    with pytest.raises(errors.VenueUnavailable):
        await gateway.fetch_ticker(_iid(gateway))
    await sim.come_up()
    assert (await gateway.fetch_ticker(_iid(gateway)))["last"] > 0


async def test_lost_acknowledgement_is_recovered_by_lookup(
    gateway: CcxtGateway, sim: ExchangeSimulator
) -> None:
    gateway.exchange.timeout = 500
    sim.fault(lost_acks=1, lost_ack_hang_s=2.0)
    report = await gateway.submit_order(_order(gateway, "lost-1", OrderSide.SELL, "0.01"))
    assert report.client_order_id == "lost-1" and report.status is OrderStatus.FILLED
    assert len(sim.state.book.orders) == 1


async def test_large_resting_order_fills_partially_over_several_candles(venue: str) -> None:
    config = sim_config(venue, participation=Decimal("0.01"))
    async with ExchangeSimulator(config) as sim:
        gw = CcxtGateway(
            make_client(venue, base_url=sim.url, api_key=DEFAULT_API_KEY, secret=DEFAULT_API_SECRET),
            venue=venue,
        )
        try:
            iid = _iid(gw)
            upcoming = sim.state.feeds["BTCUSDT"].bars[500:530]
            price = max(b.high for b in upcoming).quantize(Decimal("0.01"))  # reached within 30 candles
            assert price > sim.state.last_price("BTCUSDT")  # rests (not an immediate taker fill)
            report = await gw.submit_order(_order(gw, "big-sell", OrderSide.SELL, "0.5", str(price)))
            price_hit = next(
                i for i, b in enumerate(sim.state.feeds["BTCUSDT"].bars[500:], 1) if b.high >= price
            )
            sim.step(price_hit)
            seen = {(await gw.fetch_order(iid, venue_order_id=report.venue_order_id)).status}
            for _ in range(300):
                state = await gw.fetch_order(iid, venue_order_id=report.venue_order_id)
                seen.add(state.status)
                if state.status is OrderStatus.FILLED:
                    break
                sim.step(1)
            fills = await gw.fetch_fills(iid)
            balances = {b.currency: b for b in await gw.fetch_balances()}
        finally:
            await gw.close()
    assert OrderStatus.PARTIALLY_FILLED in seen and state.status is OrderStatus.FILLED
    assert len(fills) > 1 and sum(f.qty for f in fills) == Decimal("0.5")
    assert balances["BTC"].total == Decimal("0.5") and balances["BTC"].locked == 0


@pytest.mark.parametrize("unified", [True, False])
async def test_a_bybit_market_buy_goes_in_the_coin_bought_or_not_at_all(unified: bool) -> None:
    """Bybit spot takes a market buy's quantity in the quote coin unless the account is unified (ccxt
    then sends ``marketUnit=baseCoin``): on a classic account 0.5 BTC went out as 0.5 USDT, and on a
    coin priced under 1 USDT the same mistake buys many times the position asked for; nor can ccxt
    look up a spot order there. Every order on such an account is refused, nothing sent."""
    async with ExchangeSimulator(sim_config("bybit", unified_account=unified)) as sim:
        gw = CcxtGateway(
            make_client("bybit", base_url=sim.url, api_key=DEFAULT_API_KEY, secret=DEFAULT_API_SECRET),
            venue="bybit",
        )
        try:
            buy = _order(gw, "mb-1", OrderSide.BUY, "0.5")
            if unified:
                report = await gw.submit_order(buy)
                assert report.status is OrderStatus.FILLED and report.filled_qty == Decimal("0.5")
            else:
                with pytest.raises(errors.InvalidOrder, match="classic"):
                    await gw.submit_order(buy)
                with pytest.raises(errors.InvalidOrder, match="classic"):
                    await gw.submit_order(_order(gw, "ms-1", OrderSide.SELL, "0.1", "50000"))
                assert list(sim.state.book.orders.values()) == []  # nothing sent
        finally:
            await gw.close()
