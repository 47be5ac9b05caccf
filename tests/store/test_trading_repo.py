"""Trading repository on real PostgreSQL and SQLite: write-ahead, idempotent reports, fills, positions."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from smc_agent.core.ports import OrderReport
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.trading_repo import TradingRepo

IID = InstrumentId("binance", "BTC/USDT")


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest) -> TradingRepo:
    fixture = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url"
    url = request.getfixturevalue(fixture)
    return TradingRepo(make_session_factory(make_engine(url)))


def cmd(cid: str, side: OrderSide = OrderSide.BUY, qty: str = "2") -> SubmitOrder:
    now = int(time.time() * 1000)
    return SubmitOrder(
        ts_event=now,
        ts_init=now,
        strategy_id=StrategyId("s"),
        instrument_id=IID,
        client_order_id=ClientOrderId(cid),
        side=side,
        order_type=OrderType.LIMIT,
        qty=Decimal(qty),
        price=Decimal("100"),
        reference_price=Decimal("101"),
    )


def report(
    cid: str,
    status: OrderStatus,
    filled: str,
    avg: str | None,
    *,
    side: OrderSide = OrderSide.BUY,
    qty: str = "2",
) -> OrderReport:
    return OrderReport(
        instrument_id=IID,
        client_order_id=ClientOrderId(cid),
        venue_order_id=VenueOrderId(f"v-{cid}"),
        side=side,
        order_type=OrderType.LIMIT,
        status=status,
        qty=Decimal(qty),
        filled_qty=Decimal(filled),
        price=Decimal("100"),
        avg_fill_price=None if avg is None else Decimal(avg),
        ts_event=1_700_000_000_000,
    )


def test_write_ahead_intent_is_unique_by_client_id(repo: TradingRepo) -> None:
    assert repo.record_intent(cmd("smc-a")) is True
    assert repo.record_intent(cmd("smc-a")) is False, "a known client order id must never be recorded twice"
    stored = repo.get("smc-a")
    assert stored is not None and stored.status == OrderStatus.INITIALIZED.value and stored.is_open
    assert [o.client_order_id for o in repo.open_orders("binance")] == ["smc-a"]


def test_get_many_finds_the_stored_orders_of_a_listing_in_one_call(repo: TradingRepo) -> None:
    cids = [f"smc-m{i}" for i in range(1200)]  # more than one chunk of ids
    for cid in cids[::2]:
        repo.record_intent(cmd(cid))
    found = repo.get_many([*cids, "foreign-1", cids[0]])  # unknown and repeated ids are fine
    assert set(found) == set(cids[::2])
    assert all(found[c] == repo.get(c) for c in cids[:10:2])
    assert repo.get_many([]) == {}


def test_reports_are_idempotent_and_fills_build_trades_and_position(repo: TradingRepo) -> None:
    repo.record_intent(cmd("smc-b"))
    first = repo.apply_report(report("smc-b", OrderStatus.PARTIALLY_FILLED, "0.5", "100"))
    assert first.previous == "initialized" and first.fill_qty == Decimal("0.5")
    again = repo.apply_report(report("smc-b", OrderStatus.PARTIALLY_FILLED, "0.5", "100"))
    assert not again.changed, "the same report twice must not add a fill"
    last = repo.apply_report(report("smc-b", OrderStatus.FILLED, "2", "103"))
    assert last.fill_qty == Decimal("1.5") and last.fill_price == Decimal("104")  # (103*2 - 100*0.5)/1.5
    trades = repo.trades()
    assert sum(t["quantity"] for t in trades) == Decimal(2) and len(trades) == 2
    assert repo.net_position("binance", "BTC/USDT") == Decimal(2)
    assert repo.get("smc-b").status == "filled"  # type: ignore[union-attr]
    # selling it back realises the PnL and flattens the position
    repo.record_intent(cmd("smc-c", OrderSide.SELL))
    repo.apply_report(report("smc-c", OrderStatus.FILLED, "2", "110", side=OrderSide.SELL))
    pos = next(p for p in repo.positions() if p["symbol"] == "BTC/USDT")
    assert pos["quantity"] == 0 and pos["realized_pnl"] == Decimal(2) * (Decimal(110) - Decimal("103"))


def test_a_terminal_status_is_never_undone_by_a_stale_report(repo: TradingRepo) -> None:
    repo.record_intent(cmd("smc-d"))
    repo.apply_report(report("smc-d", OrderStatus.CANCELED, "0", None))
    repo.apply_report(report("smc-d", OrderStatus.ACCEPTED, "0", None))
    assert repo.get("smc-d").status == "canceled"  # type: ignore[union-attr]


def test_bots_and_signals(repo: TradingRepo, request: pytest.FixtureRequest) -> None:
    from smc_agent.store.db import transaction
    from smc_agent.store.users import create_user

    factory = repo._factory
    with transaction(factory) as session:
        user_id = create_user(session, username="alice", password="pw-123456789").id
    bot = repo.create_bot(
        user_id=user_id,
        name="b",
        strategy="smc",
        venue="binance",
        symbols=["BTC/USDT"],
        timeframes=["1m"],
        state="stopped",
    )
    assert repo.bots(state="running") == []
    repo.set_bot_state(bot, "running")
    assert [b["id"] for b in repo.bots(state="running")] == [bot]
    repo.record_signal(
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1m",
        kind="bos",
        direction=1,
        price=Decimal("1"),
        payload={"x": 1},
        bot_id=bot,
    )
    with pytest.raises(LookupError):
        repo.set_bot_state("bot_missing", "running")


def test_positions_left_on_a_failed_venue_are_stranded_until_closed(repo: TradingRepo) -> None:
    repo.record_intent(cmd("smc-s1"))
    repo.apply_report(report("smc-s1", OrderStatus.FILLED, "2", "100"))
    assert repo.mark_stranded(active_venue="binance") == 0
    assert repo.mark_stranded(active_venue="bybit") == 1
    assert [p["stranded"] for p in repo.positions()] == [True]
    # closing it on its own venue reconciles it: the flag clears with the quantity
    repo.record_intent(cmd("smc-s2", OrderSide.SELL))
    repo.apply_report(report("smc-s2", OrderStatus.FILLED, "2", "101", side=OrderSide.SELL))
    assert [p["stranded"] for p in repo.positions()] == [False]
    assert repo.mark_stranded(active_venue="bybit") == 0
