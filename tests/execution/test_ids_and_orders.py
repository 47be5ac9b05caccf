from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderStatus, OrderType
from smc_agent.core.events import OrderAccepted, OrderFilled, OrderSubmitted
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId
from smc_agent.execution.ids import (
    child_order_id,
    child_role,
    client_order_id,
    parent_order_id,
    sibling_order_id,
    signal_ids,
)
from smc_agent.execution.orders import OrderManager

IID = InstrumentId("binance", "BTC/USDT")
SID = StrategyId("smc-1")


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**45), st.sampled_from(list(OrderSide)), st.text(max_size=20), st.integers(0, 50))
def test_same_signal_same_id_and_venue_safe(ts: int, side: OrderSide, tag: str, seq: int) -> None:
    a = client_order_id(strategy_id=SID, instrument_id=IID, signal_ts=ts, side=side, tag=tag, seq=seq)
    b = client_order_id(strategy_id=SID, instrument_id=IID, signal_ts=ts, side=side, tag=tag, seq=seq)
    assert a == b
    assert len(a) <= 36 and all(ch.isalnum() or ch == "-" for ch in a)
    assert a != client_order_id(
        strategy_id=SID, instrument_id=IID, signal_ts=ts, side=side, tag=tag, seq=seq + 1
    )
    assert a != client_order_id(
        strategy_id=SID, instrument_id=IID, signal_ts=ts + 1, side=side, tag=tag, seq=seq
    )


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**45), st.sampled_from(list(OrderSide)), st.text(max_size=20), st.integers(0, 50))
def test_bound_signal_ids_equal_client_order_id(ts: int, side: OrderSide, tag: str, seq: int) -> None:
    make = signal_ids(strategy_id=SID, instrument_id=IID)
    expected = client_order_id(strategy_id=SID, instrument_id=IID, signal_ts=ts, side=side, tag=tag, seq=seq)
    assert make(ts, side, tag, seq) == expected
    other = signal_ids(strategy_id=SID, instrument_id=IID, prefix="Bot7")
    assert other(ts, side, tag, seq) == client_order_id(
        strategy_id=SID, instrument_id=IID, signal_ts=ts, side=side, tag=tag, seq=seq, prefix="Bot7"
    )


def submit(cid: str = "c1", **kw: object) -> SubmitOrder:
    base: dict[str, object] = dict(
        ts_event=0,
        ts_init=0,
        strategy_id=SID,
        instrument_id=IID,
        client_order_id=ClientOrderId(cid),
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        qty=Decimal(2),
    )
    base.update(kw)
    return SubmitOrder(**base)  # type: ignore[arg-type]


def filled(cid: str, qty: str, price: str, ts: int = 2) -> OrderFilled:
    return OrderFilled(
        ts_event=ts,
        ts_init=ts,
        strategy_id=SID,
        instrument_id=IID,
        client_order_id=ClientOrderId(cid),
        venue_order_id=None,
        trade_id=TradeId(f"t-{cid}-{ts}"),
        side=OrderSide.BUY,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(0),
        fee_currency="USDT",
        liquidity=LiquiditySide.TAKER,
    )


def _walk_to_accepted(om: OrderManager, cid: str) -> None:
    om.apply(
        OrderSubmitted(
            ts_event=1,
            ts_init=1,
            strategy_id=SID,
            instrument_id=IID,
            client_order_id=ClientOrderId(cid),
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            qty=Decimal(2),
        )
    )
    om.apply(
        OrderAccepted(
            ts_event=1, ts_init=1, strategy_id=SID, instrument_id=IID, client_order_id=ClientOrderId(cid)
        )
    )


def test_create_is_idempotent() -> None:
    om = OrderManager()
    first = om.create(submit())
    assert om.create(submit()) is first
    assert len(om.orders) == 1


def test_bracket_children_after_fill_and_oco_cancel() -> None:
    om = OrderManager()
    om.create(submit(stop_loss=Decimal(90), take_profit=Decimal(120), tag="ob"))
    _walk_to_accepted(om, "c1")
    assert om.open_count == 1
    assert om.apply(filled("c1", "1", "100")) == []  # partial: no children yet
    children = om.apply(filled("c1", "1", "102", ts=3))
    assert om.get(ClientOrderId("c1")).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert [(c.order_type, c.side, c.qty, c.reduce_only) for c in children] == [
        (OrderType.STOP_MARKET, OrderSide.SELL, Decimal(2), True),
        (OrderType.LIMIT, OrderSide.SELL, Decimal(2), True),
    ]
    assert children[0].trigger_price == Decimal(90) and children[1].price == Decimal(120)
    assert children[0].client_order_id == "c1-sl" and children[0].tag == "ob:sl"
    for child in children:
        om.create(child)
        _walk_to_accepted(om, child.client_order_id)
    follow = om.apply(filled("c1-sl", "2", "90", ts=5))
    assert follow == [
        CancelOrder(
            ts_event=5, ts_init=5, strategy_id=SID, instrument_id=IID, client_order_id=ClientOrderId("c1-tp")
        )
    ]


def test_unknown_order_events_are_ignored() -> None:
    assert OrderManager().apply(filled("nope", "1", "1")) == []


def test_a_child_orders_role_is_read_back_from_its_id() -> None:
    parent = ClientOrderId("smc-0123456789abcdef01234567")
    assert [child_role(child_order_id(parent, r)) for r in ("sl", "tp")] == ["sl", "tp"]
    assert child_role(parent) is None and child_role("smc-t-00000001") is None


def test_a_child_orders_parent_and_sibling_are_read_back_from_its_id() -> None:
    parent = ClientOrderId("smc-0123456789abcdef01234567")
    sl, tp = child_order_id(parent, "sl"), child_order_id(parent, "tp")
    assert parent_order_id(sl) == parent_order_id(tp) == parent
    assert (sibling_order_id(sl), sibling_order_id(tp)) == (tp, sl)
    assert parent_order_id(parent) is None and sibling_order_id("smc-t-00000001") is None
