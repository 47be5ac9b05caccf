"""Reduce-only exits go to the venue that holds the position they reduce (after a failover the engine's
instrument still names the old venue, while a position opened since is held on the backup)."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from pathlib import Path

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from smc_agent.core.ports import OrderReport
from smc_agent.live.routing import VenueRouter
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.trading_repo import TradingRepo

BINANCE, BYBIT = InstrumentId("binance", "BTC/USDT"), InstrumentId("bybit", "BTC/USDT")


def _cmd(cid: str, iid: InstrumentId, side: OrderSide, qty: str, *, reduce_only: bool = False) -> SubmitOrder:
    now = int(time.time() * 1000)
    return SubmitOrder(
        ts_event=now,
        ts_init=now,
        strategy_id=StrategyId("s"),  # not a bot: its positions have no bot id
        instrument_id=iid,
        client_order_id=ClientOrderId(cid),
        side=side,
        order_type=OrderType.MARKET,
        qty=Decimal(qty),
        reduce_only=reduce_only,
    )


def _whole_fill(cmd: SubmitOrder, fee: Decimal | None, fee_currency: str) -> OrderReport:
    """The venue's report of ``cmd`` filled whole at 100, paying ``fee`` in ``fee_currency``."""
    return OrderReport(
        instrument_id=cmd.instrument_id,
        client_order_id=cmd.client_order_id,
        venue_order_id=VenueOrderId(f"v-{cmd.client_order_id}"),
        side=cmd.side,
        order_type=cmd.order_type,
        status=OrderStatus.FILLED,
        qty=cmd.qty,
        filled_qty=cmd.qty,
        price=None,
        avg_fill_price=Decimal(100),
        ts_event=int(time.time() * 1000),
        fee=fee,
        fee_currency=fee_currency,
    )


def _filled(repo: TradingRepo, cmd: SubmitOrder, fee: Decimal | None = None) -> None:
    """``cmd`` filled whole at 100, paying ``fee`` in BTC."""
    repo.record_intent(cmd)
    repo.apply_report(_whole_fill(cmd, fee, "BTC" if fee else ""))


def test_an_exit_goes_where_the_position_is_held(migrated_sqlite_url: str) -> None:
    repo = TradingRepo(make_session_factory(make_engine(migrated_sqlite_url)))
    router = VenueRouter(active_venue=lambda: "bybit", repo=repo, configured=lambda: {"binance", "bybit"})
    _filled(repo, _cmd("in-1", BINANCE, OrderSide.BUY, "0.2"))  # before the failover
    _filled(repo, _cmd("in-2", BYBIT, OrderSide.BUY, "0.3"))  # after it, routed to the backup
    # the engine names its own instrument (binance) on every exit
    exits = [
        (_cmd("x-1", BINANCE, OrderSide.SELL, "0.2", reduce_only=True), "binance"),  # Binance holds it
        (_cmd("x-2", BINANCE, OrderSide.SELL, "0.3", reduce_only=True), "bybit"),  # only Bybit holds 0.3
        (_cmd("x-3", BINANCE, OrderSide.SELL, "0.5", reduce_only=True), "binance"),  # split: not re-routed
        (_cmd("x-4", BINANCE, OrderSide.BUY, "0.3", reduce_only=True), "binance"),  # nothing short anywhere
    ]
    for cmd, venue in exits:
        assert router.route(cmd).instrument_id.venue == venue, cmd.client_order_id
    entry = _cmd("in-3", BINANCE, OrderSide.BUY, "0.1")
    assert router.route(entry).instrument_id == BYBIT  # new orders follow the active venue, as before


def test_without_positions_or_a_database_the_exit_stays_on_its_venue(
    migrated_sqlite_url: str, tmp_path: Path
) -> None:
    cmd = _cmd("x-9", BINANCE, OrderSide.SELL, "0.1", reduce_only=True)
    for url in (
        migrated_sqlite_url,
        f"sqlite:///{tmp_path / 'missing' / 'none.db'}",
    ):  # the second cannot open
        repo = TradingRepo(make_session_factory(make_engine(url)))
        router = VenueRouter(active_venue=lambda: "bybit", repo=repo, configured=lambda: {"binance", "bybit"})
        assert router.route(cmd) is cmd


def test_without_a_failover_an_exit_reads_no_positions(migrated_sqlite_url: str) -> None:
    repo = TradingRepo(make_session_factory(make_engine(migrated_sqlite_url)))
    router = VenueRouter(active_venue=lambda: "binance", repo=repo, configured=lambda: {"binance", "bybit"})
    router.refresh()  # the active venue is the engine's own, nothing stranded
    reads: list[str] = []
    holdings = repo.holdings

    def counted(symbol: str, *, bot_id: str | None) -> dict[str, Decimal]:
        reads.append(symbol)
        return holdings(symbol, bot_id=bot_id)

    repo.holdings = counted  # type: ignore[method-assign]
    cmd = _cmd("x-1", BINANCE, OrderSide.SELL, "0.1", reduce_only=True)
    assert router.route(cmd) is cmd and reads == []
    _filled(repo, _cmd("in-1", BYBIT, OrderSide.BUY, "0.1"))  # a position left on another venue
    router.active = None  # as after a restart: the next read flags it stranded
    router.refresh()
    assert router.route(cmd).instrument_id == BYBIT and reads == ["BTC/USDT"]


def test_a_stop_and_target_go_where_their_entry_filled(migrated_sqlite_url: str) -> None:
    # after a failover, a position held on each venue: the new entry's stop and target (the engine names
    # its own venue on them) went by holdings to the old venue, whose coins the first position's exits
    # already hold, and the new position on the backup got none
    repo = TradingRepo(make_session_factory(make_engine(migrated_sqlite_url)))
    router = VenueRouter(active_venue=lambda: "bybit", repo=repo, configured=lambda: {"binance", "bybit"})
    _filled(repo, _cmd("smc-e1", BINANCE, OrderSide.BUY, "0.2"))  # before the failover
    _filled(repo, _cmd("smc-e2", BYBIT, OrderSide.BUY, "0.2"))  # after it, on the backup
    for parent, venue in (("smc-e2", "bybit"), ("smc-e1", "binance")):
        stop = dataclasses.replace(
            _cmd(f"{parent}-sl", BINANCE, OrderSide.SELL, "0.2", reduce_only=True),
            order_type=OrderType.STOP_MARKET,
            trigger_price=Decimal(90),
        )
        target = dataclasses.replace(
            _cmd(f"{parent}-tp", BINANCE, OrderSide.SELL, "0.2", reduce_only=True), price=Decimal(110)
        )
        assert [router.route(c).instrument_id.venue for c in (stop, target)] == [venue, venue], parent


def test_the_dust_a_reducing_fill_leaves_is_written_off_in_its_own_row(migrated_sqlite_url: str) -> None:
    """After a failover a position is held on both venues. A sell on Bybit leaves dust there (what the
    buy's coin fee left below the lot step): it is written off with that fill, in that row, its cost a
    realised loss; the Binance row, a part of an entry (also below the step), is kept."""
    repo = TradingRepo(make_session_factory(make_engine(migrated_sqlite_url)))
    lot = Decimal("0.00001")
    _filled(repo, _cmd("in-1", BINANCE, OrderSide.BUY, "0.00001"), Decimal("0.00000001"))
    _filled(repo, _cmd("in-2", BYBIT, OrderSide.BUY, "0.01234"), Decimal("0.00001234"))
    assert repo.holdings("BTC/USDT", bot_id=None) == {
        "binance": Decimal("0.00000999"),
        "bybit": Decimal("0.01232766"),
    }
    sell = _cmd("x-1", BYBIT, OrderSide.SELL, "0.01232", reduce_only=True)
    repo.record_intent(sell)
    outcome = repo.apply_report(_whole_fill(sell, Decimal("0.001232"), "USDT"), lot=lot)
    assert (outcome.written_off, outcome.written_off_cost) == (Decimal("0.00000766"), Decimal("0.000766"))
    assert repo.holdings("BTC/USDT", bot_id=None) == {"binance": Decimal("0.00000999"), "bybit": 0}
    (bybit,) = [p for p in repo.positions() if p["exchange"] == "bybit"]
    assert (bybit["quantity"], bybit["realized_pnl"]) == (0, -Decimal("0.00000766") * 100)
