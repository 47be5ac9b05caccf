"""Commands round-trip the orders stream exactly: the execution engine acts on what the engine sent."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.live.codec import decode, encode


def test_a_close_keeps_the_orders_it_cancels_first() -> None:
    close = SubmitOrder(
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
        cancel_first=(ClientOrderId("smc-e1-sl"), ClientOrderId("smc-e1-tp")),
    )
    back = decode(encode(close))
    assert back == close and isinstance(back.cancel_first, tuple)
    plain = decode(encode(dataclasses.replace(close, cancel_first=())))
    assert plain.cancel_first == ()


def test_an_entry_of_the_wrong_shape_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        decode({"kind": "Nope", "body": "{}"})
