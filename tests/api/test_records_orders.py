"""``/v1/orders``, ``/v1/trades`` and ``/v1/positions`` show a bot's records to the bot's owner (the
rows used to be written with ``user_id`` NULL, so every list was empty), and risk denials are listed
with the check that denied them and its figures (they used to be stored nowhere)."""

from __future__ import annotations

import time
from decimal import Decimal

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from smc_agent.core.ports import OrderReport
from smc_agent.store.trading_repo import Denial, TradingRepo
from tests.api.conftest import Api

BTC = InstrumentId("binance", "BTC/USDT")


def test_a_bots_orders_denials_trades_and_positions_are_its_owners(api: Api) -> None:
    repo = TradingRepo(api.container.session_factory)
    bot = repo.create_bot(
        user_id="usr_alice",
        name="d",
        strategy="drill",
        venue="binance",
        symbols=["BTC/USDT"],
        timeframes=["1m"],
    )
    now = int(time.time() * 1000)
    cmd = SubmitOrder(
        ts_event=now,
        ts_init=now,
        strategy_id=StrategyId(bot),
        instrument_id=BTC,
        client_order_id=ClientOrderId("smc-owned-1"),
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.5"),
        price=Decimal("30000"),
    )
    assert repo.record_intent(cmd, bot_id=bot)  # as the gateway calls it: no user id configured
    repo.apply_report(
        OrderReport(
            instrument_id=BTC,
            client_order_id=cmd.client_order_id,
            venue_order_id=VenueOrderId("v-1"),
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            status=OrderStatus.FILLED,
            qty=Decimal("0.5"),
            filled_qty=Decimal("0.5"),
            price=Decimal("30000"),
            avg_fill_price=Decimal("30000"),
            ts_event=now,
        )
    )
    denial = Denial(
        client_order_id="smc-denied-1",
        bot_id=bot,
        exchange="binance",
        symbol="BTC/USDT",
        side="buy",
        type="market",
        quantity=Decimal(12000),
        price=None,
        reason="max_order_qty: quantity 12000 above limit 10000",
        check="max_order_qty",
        figures={"qty": "12000", "limit": "10000"},
        ts=now,
    )
    assert repo.record_denial(denial) is True
    assert repo.record_denial(denial) is False  # idempotent

    alice, bob = api.headers("alice"), api.headers("bob")
    orders = api.client.get("/v1/orders", headers=alice).json()["items"]
    assert {o["client_order_id"]: o["status"] for o in orders} == {
        "smc-owned-1": "filled",
        "smc-denied-1": "denied",
    }
    denied = api.client.get("/v1/orders?status=denied", headers=alice).json()["items"]
    assert len(denied) == 1
    assert denied[0]["client_order_id"] == "smc-denied-1" and denied[0]["bot_id"] == bot
    assert denied[0]["risk_check"] == "max_order_qty"
    assert denied[0]["risk_figures"] == {"qty": "12000", "limit": "10000"}
    assert denied[0]["reason"] == "max_order_qty: quantity 12000 above limit 10000"
    assert Decimal(denied[0]["quantity"]) == 12000 and denied[0]["side"] == "buy"
    filled = api.client.get("/v1/orders?status=filled", headers=alice).json()["items"]
    assert [o["risk_check"] for o in filled] == [None]

    trades = api.client.get("/v1/trades", headers=alice).json()["items"]
    assert [(t["bot_id"], Decimal(t["quantity"])) for t in trades] == [(bot, Decimal("0.5"))]
    positions = api.client.get("/v1/positions", headers=alice).json()["items"]
    assert [(p["bot_id"], Decimal(p["quantity"])) for p in positions] == [(bot, Decimal("0.5"))]

    for path in ("/v1/orders", "/v1/orders?status=denied", "/v1/trades", "/v1/positions"):
        assert api.client.get(path, headers=bob).json()["items"] == [], path


def test_an_order_filter_that_names_no_state_or_venue_is_refused(api: Api) -> None:
    # ?status=bogus and ?exchange=kraken answered 200 with no orders, as if there were none
    h = api.headers("alice")
    for query in ("status=bogus", "exchange=kraken"):
        refused = api.client.get(f"/v1/orders?{query}", headers=h)
        assert refused.status_code == 422, (query, refused.text)
    assert api.client.get("/v1/orders?status=denied&exchange=bybit", headers=h).status_code == 200
