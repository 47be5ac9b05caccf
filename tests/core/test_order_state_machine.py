from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.errors import IllegalTransition
from smc_agent.core.ids import ClientOrderId, InstrumentId
from smc_agent.core.order import TRANSITIONS, Order

IID = InstrumentId("sim", "BTC/USDT")


def make_order(qty: str = "1") -> Order:
    return Order(
        client_order_id=ClientOrderId("c1"),
        instrument_id=IID,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=Decimal("100"),
        ts_init=0,
    )


def test_happy_path_to_filled() -> None:
    order = make_order("2")
    order.submit(1)
    order.accept(None, 2)
    order.fill(Decimal("0.5"), Decimal("100"), 3)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order.fill(Decimal("1.5"), Decimal("102"), 4)
    assert order.status is OrderStatus.FILLED
    assert order.avg_fill_price == Decimal("101.5")
    assert order.leaves_qty == 0
    assert order.ts_last == 4


def test_illegal_transition_raises_and_keeps_state() -> None:
    order = make_order()
    with pytest.raises(IllegalTransition, match="initialized -> accepted"):
        order.accept(None, 1)
    assert order.status is OrderStatus.INITIALIZED
    order.deny("too big", 1)
    with pytest.raises(IllegalTransition):
        order.submit(2)


def test_overfill_raises() -> None:
    order = make_order("1")
    order.submit(1)
    with pytest.raises(IllegalTransition, match="overfill"):
        order.fill(Decimal("1.1"), Decimal("100"), 2)
    assert order.filled_qty == 0


def test_limit_order_requires_price() -> None:
    with pytest.raises(ValueError, match="needs a positive price"):
        Order(
            client_order_id=ClientOrderId("x"),
            instrument_id=IID,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            qty=Decimal(1),
            ts_init=0,
        )


ACTIONS = ["deny", "submit", "accept", "reject", "trigger", "request_cancel", "cancel", "expire", "fill"]
TARGET = {
    "deny": OrderStatus.DENIED,
    "submit": OrderStatus.SUBMITTED,
    "accept": OrderStatus.ACCEPTED,
    "reject": OrderStatus.REJECTED,
    "trigger": OrderStatus.TRIGGERED,
    "request_cancel": OrderStatus.PENDING_CANCEL,
    "cancel": OrderStatus.CANCELED,
    "expire": OrderStatus.EXPIRED,
}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(1, 4)), max_size=25))
def test_random_action_sequences_obey_transition_table(actions: list[tuple[str, int]]) -> None:
    order = make_order("4")
    for ts, (action, amount) in enumerate(actions, start=1):
        before = order.status
        filled_before = order.filled_qty
        try:
            if action == "fill":
                order.fill(Decimal(amount) / 2, Decimal("100"), ts)
            elif action in ("deny", "reject"):
                getattr(order, action)("r", ts)
            elif action == "accept":
                order.accept(None, ts)
            else:
                getattr(order, action)(ts)
        except IllegalTransition:
            assert order.status is before
            assert order.filled_qty == filled_before
            if action != "fill":
                assert TARGET[action] not in TRANSITIONS[before]
            continue
        assert order.status in TRANSITIONS[before]
        assert 0 <= order.filled_qty <= order.qty
        if action == "fill":
            assert order.filled_qty > filled_before
            assert (order.status is OrderStatus.FILLED) == (order.filled_qty == order.qty)
        if before.is_terminal:
            pytest.fail(f"left terminal state {before} via {action}")
