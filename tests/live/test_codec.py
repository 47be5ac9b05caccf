"""Commands round-trip the orders stream exactly: the execution engine acts on what the engine sent."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from smc_agent.core.commands import SubmitOco, SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.live.codec import decode, encode

# a bot's reduce-only sell, the shape of a close and of a position's exits
SELL = SubmitOrder(
    ts_event=1,
    ts_init=2,
    strategy_id=StrategyId("bot_1"),
    instrument_id=InstrumentId("binance", "BTC/USDT"),
    client_order_id=ClientOrderId("smc-close"),
    side=OrderSide.SELL,
    order_type=OrderType.MARKET,
    qty=Decimal("0.01000"),
    reduce_only=True,
    reference_price=Decimal("40000.5"),
)


def test_a_close_keeps_the_orders_it_cancels_first() -> None:
    close = dataclasses.replace(SELL, cancel_first=(ClientOrderId("smc-e1-sl"), ClientOrderId("smc-e1-tp")))
    back = decode(encode(close))
    assert back == close and isinstance(back.cancel_first, tuple)
    assert decode(encode(SELL)).cancel_first == ()


def test_an_entry_of_the_wrong_shape_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        decode({"kind": "Nope", "body": "{}"})


def test_a_stop_and_target_sent_together_round_trip() -> None:
    stop = dataclasses.replace(
        SELL,
        client_order_id=ClientOrderId("smc-e1-sl"),
        order_type=OrderType.STOP_MARKET,
        trigger_price=Decimal("36000.00"),
    )
    target = dataclasses.replace(
        SELL, client_order_id=ClientOrderId("smc-e1-tp"), order_type=OrderType.LIMIT, price=Decimal(44000)
    )
    pair = SubmitOco(ts_event=1, ts_init=2, stop=stop, target=target)
    back = decode(encode(pair))
    assert back == pair and isinstance(back.stop, SubmitOrder) and back.target.price == Decimal(44000)
