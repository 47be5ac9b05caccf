from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.core.enums import LiquiditySide, OrderSide
from smc_agent.core.fill import Fill
from smc_agent.core.ids import ClientOrderId, InstrumentId, TradeId
from smc_agent.core.position import Position

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
