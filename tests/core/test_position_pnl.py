from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.core.enums import LiquiditySide, OrderSide
from smc_agent.core.fill import Fill
from smc_agent.core.ids import ClientOrderId, InstrumentId, TradeId
from smc_agent.core.position import Position
from smc_agent.engine.portfolio import Portfolio

IID = InstrumentId("sim", "BTC/USDT")
prices = st.decimals(min_value="0.01", max_value="100000", places=2)
qtys = st.decimals(min_value="0.001", max_value="1000", places=3)
fee_rates = st.decimals(min_value="0", max_value="0.01", places=4)


def fill(side: OrderSide, qty: Decimal, price: Decimal, fee_rate: Decimal, n: int = 0) -> Fill:
    return Fill(
        instrument_id=IID,
        client_order_id=ClientOrderId(f"c{n}"),
        venue_order_id=None,
        trade_id=TradeId(f"t{n}"),
        side=side,
        qty=qty,
        price=price,
        fee=qty * price * fee_rate,
        fee_currency="USDT",
        liquidity=LiquiditySide.TAKER,
        ts_event=n,
    )


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(OrderSide)), qtys, prices, fee_rates)
def test_round_trip_at_same_price_loses_exactly_the_fees(
    side: OrderSide, qty: Decimal, price: Decimal, rate: Decimal
) -> None:
    pos = Position(IID)
    f1 = fill(side, qty, price, rate, 1)
    f2 = fill(side.opposite, qty, price, rate, 2)
    pos.apply(f1)
    pos.apply(f2)
    assert pos.is_flat
    assert pos.realized_pnl == 0
    assert pos.net_realized_pnl == -(f1.fee + f2.fee)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(OrderSide)), qtys, prices, prices, fee_rates)
def test_round_trip_pnl_is_price_difference_times_qty_minus_fees(
    side: OrderSide, qty: Decimal, p_open: Decimal, p_close: Decimal, rate: Decimal
) -> None:
    pos = Position(IID)
    f1 = fill(side, qty, p_open, rate, 1)
    f2 = fill(side.opposite, qty, p_close, rate, 2)
    pos.apply(f1)
    assert pos.unrealized_pnl(p_close) == side.sign * qty * (p_close - p_open)
    realized = pos.apply(f2)
    assert realized == side.sign * qty * (p_close - p_open)
    assert pos.net_realized_pnl == realized - f1.fee - f2.fee


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(OrderSide)), qtys, prices), min_size=1, max_size=12), prices)
def test_equity_conservation(fills: list[tuple[OrderSide, Decimal, Decimal]], mark: Decimal) -> None:
    """Cash flow accounting and position accounting agree: realised + unrealised == -cash + qty*mark."""
    pos = Position(IID)
    cash = Decimal(0)
    for n, (side, qty, price) in enumerate(fills):
        f = fill(side, qty, price, Decimal("0.001"), n)
        pos.apply(f)
        cash -= f.signed_qty * f.price + f.fee
    # the average price is a 28-digit Decimal quotient, so allow its rounding only
    assert abs(pos.net_realized_pnl + pos.unrealized_pnl(mark) - (cash + pos.qty * mark)) < Decimal("1e-15")


def test_flip_reopens_at_fill_price() -> None:
    pos = Position(IID)
    pos.apply(fill(OrderSide.BUY, Decimal(1), Decimal(100), Decimal(0), 1))
    realized = pos.apply(fill(OrderSide.SELL, Decimal(3), Decimal(110), Decimal(0), 2))
    assert realized == Decimal(10)
    assert pos.qty == Decimal(-2)
    assert pos.avg_price == Decimal(110)


def coin_fee_fill(side: OrderSide, qty: Decimal, price: Decimal, rate: Decimal, n: int) -> Fill:
    """As Binance and Bybit spot charge a buy: the fee in the coin bought (a sell's in the quote)."""
    if side is OrderSide.SELL:
        return fill(side, qty, price, rate, n)
    return replace(fill(side, qty, price, Decimal(0), n), fee=qty * rate, fee_currency="BTC")


@settings(max_examples=200, deadline=None)
@given(qtys, prices, prices, fee_rates)
def test_a_fee_in_the_coin_bought_is_booked_as_the_account_holds_it(
    qty: Decimal, p_open: Decimal, p_close: Decimal, rate: Decimal
) -> None:
    """The position is what the account holds (bought less the fee), the fee is valued at the fill's
    price, and the books match the account: a round trip selling what is held leaves the cash the
    account has, and at the same price it loses exactly the fees."""
    book = Portfolio(Decimal(1000), "USDT")
    buy = coin_fee_fill(OrderSide.BUY, qty, p_open, rate, 1)
    pos = book.apply_fill(buy)
    held = qty - buy.fee
    assert pos.qty == held and book.fees == buy.fee * p_open
    assert book.cash == 1000 - qty * p_open  # the fee took coins, not cash
    assert book.equity() == 1000 - qty * p_open + held * p_open  # at cost: no mark yet
    sell = fill(OrderSide.SELL, held, p_close, rate, 2)
    book.apply_fill(sell)
    assert pos.is_flat and book.cash == 1000 - qty * p_open + held * p_close - sell.fee
    assert book.fees == buy.fee * p_open + sell.fee
    if p_open == p_close:
        assert book.cash - 1000 == -book.fees
        assert pos.net_realized_pnl == -book.fees


def test_a_fee_in_a_third_asset_is_left_out_and_the_quantity_kept() -> None:
    book = Portfolio(Decimal(1000), "USDT")
    bnb = replace(
        fill(OrderSide.BUY, Decimal(1), Decimal(100), Decimal(0), 1), fee=Decimal("0.2"), fee_currency="BNB"
    )
    pos = book.apply_fill(bnb)
    assert pos.qty == 1 and book.fees == 0 and book.cash == 900


def test_dust_is_written_off_at_its_cost() -> None:
    book = Portfolio(Decimal(1000), "USDT")
    book.apply_fill(coin_fee_fill(OrderSide.BUY, Decimal("0.01234"), Decimal(100), Decimal("0.001"), 1))
    book.apply_fill(fill(OrderSide.SELL, Decimal("0.01232"), Decimal(100), Decimal(0), 2))
    pos = book.positions[IID]
    assert pos.qty == Decimal("0.00000766") and book.has_exposure
    cash = book.cash
    book.write_off(IID, Decimal("0.00000766"), Decimal("0.000766"))
    assert pos.is_flat and not book.has_exposure and book.equity() == book.cash == cash
    assert pos.realized_pnl == -Decimal("0.000766")


def test_a_shorts_buy_back_with_its_fee_in_the_coin_closes_it_whole() -> None:
    """A spot "short" sells coins the account held before; a long's exits must not sell more than is
    held, but a short holds nothing: the buy that covers it closes it whole (its fee counted at its
    value), else every short would end with a residual short of its fee that no exit covers."""
    book = Portfolio(Decimal(1000), "USDT")
    book.apply_fill(fill(OrderSide.SELL, Decimal("0.2"), Decimal(100), Decimal("0.001"), 1))
    cover = coin_fee_fill(OrderSide.BUY, Decimal("0.2"), Decimal(90), Decimal("0.001"), 2)
    pos = book.apply_fill(cover)
    assert pos.is_flat and pos.realized_pnl == 2
    assert book.fees == Decimal("0.02") + Decimal("0.0002") * 90
    flip = coin_fee_fill(OrderSide.BUY, Decimal("0.3"), Decimal(90), Decimal("0.001"), 3)
    book.apply_fill(fill(OrderSide.SELL, Decimal("0.1"), Decimal(90), Decimal(0), 4))
    assert book.apply_fill(flip).qty == Decimal("0.2") - Decimal("0.0003")  # the long part holds less
