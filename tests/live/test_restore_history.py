"""The playbook restores the database from a backup: an order the venue filled after that backup is
gone from the database, its position with it. Reconciliation compared only open orders and passed;
trading resumed on books that were not the venue's. Now the venue's fills since the newest stored
order are compared too: the restored engine stays halted until the operator has reconciled the
account by hand and said so (`smc-agent reconcile accept`)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from smc_agent.cli.main import app
from smc_agent.control.clock import WallClock
from smc_agent.core.ids import InstrumentId
from smc_agent.live.streams import MemoryStreamBus
from smc_agent.live.wiring import build_control, build_execution, close_execution
from smc_agent.ops.backup.service import BackupService
from smc_agent.ops.backup.storage import DirectoryStore
from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models import AuditLog, Order
from smc_agent.venues.errors import translate
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, order, simulator_config


def _filled_long_ago(url: str, *, days: int, venue_order_id: str, exchange: str, symbol: str) -> datetime:
    """A filled market buy stored ``days`` ago (a pair since delisted, a failover's position)."""
    old = datetime.now(UTC) - timedelta(days=days)
    with transaction(make_session_factory(make_engine(url))) as session:
        session.add(
            Order(
                client_order_id=f"smc-old-{venue_order_id}",
                venue_order_id=venue_order_id,
                exchange=exchange,
                symbol=symbol,
                side="buy",
                type="market",
                quantity=Decimal(1),
                filled_quantity=Decimal(1),
                status="filled",
                created_at=old,
                updated_at=old,
            )
        )
    return old


async def test_a_restore_older_than_a_fill_keeps_trading_halted_until_accepted(
    sim: ExchangeSimulator,
    migrated_pg_url: str,
    redis_pair: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = execution_config(migrated_pg_url, redis_pair[0], sim)
    first = build_execution(config, bus=MemoryStreamBus())
    await first.start()
    backups = BackupService(database_url=migrated_pg_url, store=DirectoryStore(tmp_path), clock=WallClock())
    try:
        assert await first.gateway.submit(order(1, kind="market", prefix="smc-b")) is not None
        backup = backups.create(label="daily")["name"]
        lost = await first.gateway.submit(order(2, kind="market", prefix="smc-b"))  # after the backup
        assert lost is not None and lost.filled_qty > 0
    finally:
        await close_execution(first)
    control, repo = build_control(migrated_pg_url, redis_pair[0])
    backups.restore(backup, halt=lambda r: control.halt(reason=r, actor="op", source="cli"), confirmed=True)
    assert repo.get(lost.client_order_id) is None  # the restore lost it

    restored = build_execution(config, bus=MemoryStreamBus())
    try:
        problems = await restored.gateway.reconcile()
        assert len(problems) == 1, problems
        assert (
            f"order {lost.venue_order_id} ({lost.client_order_id}) filled at binance BTC/USDT" in problems[0]
        )
        assert "is not in the database" in problems[0] and restored.gateway.halted
        check = dict(restored.resume_checks())["reconciliation"]
        assert await check() is not None  # `smc-agent resume` cannot release it

        monkeypatch.setenv("SMC_DATABASE_URL", migrated_pg_url)
        monkeypatch.setenv("SMC_REDIS_URL", redis_pair[0])
        monkeypatch.setenv("SMC_SESSION_REDIS_DB", redis_pair[1].rsplit("/", 1)[1])
        args = ["reconcile", "accept", "--venue", "binance", "--reason", "position corrected by hand"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output

        assert await check() is None  # the venue's history up to the acceptance no longer counts
        with make_session_factory(make_engine(migrated_pg_url))() as session:
            audit = session.scalars(select(AuditLog).where(AuditLog.action == "venue_history_accepted")).one()
        assert audit.target == "binance" and audit.details["reason"] == "position corrected by hand"

        # a fill after the acceptance of an order the database does not know is held against it again
        await asyncio.sleep(0.01)
        outside = await restored.gateway.venues["binance"].submit_order(
            order(3, kind="market", prefix="smc-b")
        )
        assert outside.filled_qty > 0
        assert any(str(outside.venue_order_id) in p for p in await restored.gateway.reconcile())
    finally:
        await close_execution(restored)


async def test_a_filled_order_whose_acknowledgement_the_database_lacks_is_applied_not_flagged(
    sim: ExchangeSimulator, migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    # the intent is stored without its venue id (the acknowledgement was lost): a fill of an order
    # the database knows by its client id is applied, not taken for a stranger's
    config = execution_config(migrated_pg_url, redis_pair[0], sim)
    service = build_execution(config, bus=MemoryStreamBus())
    await service.start()
    try:
        known = await service.gateway.submit(order(1, kind="market", prefix="smc-k"))
        assert known is not None
        venue = service.gateway.venues["binance"]
        cmd = order(2, kind="market", prefix="smc-k")
        assert service.gateway.repo.record_intent(cmd)  # written ahead, then sent: its answer lost
        sent = await venue.submit_order(cmd)
        assert service.gateway.repo.get(cmd.client_order_id).venue_order_id is None  # type: ignore[union-attr]
        assert await service.gateway.reconcile() == []
        stored = service.gateway.repo.get(cmd.client_order_id)
        assert stored is not None and stored.venue_order_id == str(sent.venue_order_id)
        assert stored.status == "filled"
    finally:
        await close_execution(service)


async def test_a_restore_from_before_any_order_on_the_symbol_is_caught_then_cleared(
    sim: ExchangeSimulator, migrated_pg_url: str, tmp_path: Path
) -> None:
    # only symbols with stored orders were compared: a backup from before the first order on a symbol
    # restored clean, the 0.5 BTC the venue holds unknown to the books
    config = execution_config(migrated_pg_url, None, sim)
    backups = BackupService(database_url=migrated_pg_url, store=DirectoryStore(tmp_path), clock=WallClock())
    backup = backups.create(label="daily")["name"]  # before any order
    first = build_execution(config, bus=MemoryStreamBus())
    await first.start()
    try:
        lost = await first.gateway.submit(order(1, kind="market", qty="0.5", prefix="smc-c"))
        assert lost is not None and lost.filled_qty > 0
    finally:
        await close_execution(first)
    control, repo = build_control(migrated_pg_url, None)
    backups.restore(backup, halt=lambda r: control.halt(reason=r, actor="op", source="cli"), confirmed=True)
    restored = build_execution(config, bus=MemoryStreamBus())  # trades BTC/USDT (its configured symbol)
    try:
        problems = await restored.gateway.reconcile()
        assert len(problems) == 1 and str(lost.venue_order_id) in problems[0], problems
        repo.accept_venue_history("binance", int(time.time() * 1000) + 1)
        assert await restored.gateway.reconcile() == []
        # verified: the restore's mark is gone, a symbol with no recent order is not asked about again
        assert repo.history_starts("binance", margin_ms=0, max_age_ms=0, symbols=("BTC/USDT",)) == {}
    finally:
        await close_execution(restored)


async def test_an_old_order_on_a_pair_the_venue_no_longer_lists_does_not_block_trading(
    sim: ExchangeSimulator, migrated_pg_url: str
) -> None:
    # every symbol ever traded was asked about at each reconciliation, and a venue refusing one (a
    # delisted pair) counted as the venue unreachable: never reconciled, every order refused
    old = _filled_long_ago(
        migrated_pg_url, days=200, venue_order_id="4242", exchange="binance", symbol="LUNA/USDT"
    )
    service = build_execution(execution_config(migrated_pg_url, None, sim), bus=MemoryStreamBus())
    try:
        await asyncio.wait_for(service.start(), 15)
        assert service.gateway.reconciled and service.gateway.last_reconcile_problems == []
        assert await service.gateway.submit(order(1, kind="market", prefix="smc-d")) is not None
        # after a restore it is asked about, and the venue refusing the pair is said, not a halt
        _, repo = build_control(migrated_pg_url, None)
        repo.mark_history_unverified(int((datetime.now(UTC) - timedelta(days=2)).timestamp() * 1000))
        assert old < datetime.now(UTC) - timedelta(days=2)  # the pair's order is older than the restore
        assert await service.gateway.reconcile() == []
    finally:
        await close_execution(service)


async def test_a_transient_venue_refusal_of_the_fills_keeps_the_restore_mark(
    migrated_pg_url: str, tmp_path: Path
) -> None:
    # a venue's passing internal error (Bybit 10016, ccxt's ExchangeError: RejectedError here) was
    # taken for a delisted pair: the reconciliation came out clean, the mark went, and the order
    # filled after the backup was never held against the restored database
    async with ExchangeSimulator(simulator_config(venue="bybit")) as sim:
        config = dataclasses.replace(execution_config(migrated_pg_url, None, sim), venue="bybit")
        backups = BackupService(
            database_url=migrated_pg_url, store=DirectoryStore(tmp_path), clock=WallClock()
        )
        backup = backups.create(label="daily")["name"]  # before any order
        first = build_execution(config, bus=MemoryStreamBus())
        await first.start()
        try:
            cmd = dataclasses.replace(
                order(1, kind="market", qty="0.5", prefix="smc-e"),
                instrument_id=InstrumentId("bybit", "BTC/USDT"),
            )
            lost = await first.gateway.submit(cmd)
            assert lost is not None and lost.filled_qty > 0
        finally:
            await close_execution(first)
        control, _ = build_control(migrated_pg_url, None)
        backups.restore(
            backup, halt=lambda r: control.halt(reason=r, actor="op", source="cli"), confirmed=True
        )
        restored = build_execution(config, bus=MemoryStreamBus())
        venue = restored.gateway.venues["bybit"]
        real, calls = venue.fetch_fills, [0]

        async def flaky(*args: object, **kwargs: object) -> object:
            calls[0] += 1
            if calls[0] == 1:
                raise translate(
                    ccxt.ExchangeError('bybit {"retCode":10016,"retMsg":"Internal server error."}'),
                    venue="bybit",
                )
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        venue.fetch_fills = flaky  # type: ignore[method-assign]
        try:
            first_pass = await restored.gateway.reconcile()
            assert first_pass and "unreachable" in first_pass[0]  # not a clean pass
            second_pass = await restored.gateway.reconcile()
            assert any(str(lost.venue_order_id) in p for p in second_pass), second_pass
        finally:
            await close_execution(restored)


async def test_a_venue_this_engine_does_not_trade_keeps_its_restore_mark(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    # the mark was one for all venues: an engine on Binance alone reconciled clean and cleared it, and
    # Bybit's fills since the restore (a failover's position) were never compared
    _filled_long_ago(migrated_sqlite_url, days=5, venue_order_id="77", exchange="bybit", symbol="BTC/USDT")
    _, repo = build_control(migrated_sqlite_url, None)
    repo.mark_history_unverified(int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000))
    window = {"margin_ms": 60_000, "max_age_ms": 3 * 86_400_000, "symbols": ("BTC/USDT",)}
    before = repo.history_starts("bybit", **window)  # type: ignore[arg-type]
    assert "BTC/USDT" in before
    service = build_execution(execution_config(migrated_sqlite_url, None, sim), bus=MemoryStreamBus())
    try:
        assert list(service.gateway.venues) == ["binance"]
        assert await service.gateway.reconcile() == []
    finally:
        await close_execution(service)
    assert repo.history_starts("bybit", **window) == before  # type: ignore[arg-type]
    assert repo.history_starts("binance", **window) == {}  # binance's verified


def test_a_later_restore_replaces_the_mark_and_a_verified_one_is_not_compared_again(
    migrated_sqlite_url: str,
) -> None:
    # the mark took the earlier time of two restores: a restore months after a verified one compared
    # the venues' fills since the first backup
    _, repo = build_control(migrated_sqlite_url, None)
    window = {"margin_ms": 0, "max_age_ms": 0, "symbols": ("BTC/USDT",)}
    day = 86_400_000
    first = int(time.time() * 1000) - 90 * day
    repo.mark_history_unverified(first)
    assert repo.history_starts("binance", **window) == {"BTC/USDT": first}  # type: ignore[arg-type]
    repo.history_verified("binance")
    assert repo.history_starts("binance", **window) == {}  # type: ignore[arg-type]
    second = int(time.time() * 1000) - day
    repo.mark_history_unverified(second)
    assert repo.history_starts("binance", **window) == {"BTC/USDT": second}  # type: ignore[arg-type]


def _days_ago_ms(days: float) -> int:
    return int((datetime.now(UTC) - timedelta(days=days)).timestamp() * 1000)


async def test_a_fill_days_after_the_backup_is_found_past_the_venues_window(
    sim: ExchangeSimulator, migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    # Binance answers "trades since T" with the 24 hours from T: one request since a backup of three
    # days ago saw nothing, and a fill of today outside the books passed
    service = build_execution(execution_config(migrated_pg_url, redis_pair[0], sim), bus=MemoryStreamBus())
    await service.start()
    try:
        outside = await service.gateway.venues["binance"].submit_order(
            order(1, kind="market", prefix="smc-w")
        )
        assert outside.filled_qty > 0
        _, repo = build_control(migrated_pg_url, None)
        repo.mark_history_unverified(_days_ago_ms(3))
        problems = await service.gateway.reconcile()
        assert len(problems) == 1 and str(outside.venue_order_id) in problems[0], problems
        assert service.gateway.halted
    finally:
        await close_execution(service)


async def test_a_fill_behind_a_full_newest_first_page_is_found(migrated_pg_url: str) -> None:
    # Bybit returns at most 100 executions a request, newest first: 100 of the engine's own fills after
    # an order traded outside the books hid it, and a page shorter than the 500 asked for looked complete
    async with ExchangeSimulator(simulator_config(venue="bybit")) as sim:
        config = dataclasses.replace(execution_config(migrated_pg_url, None, sim), venue="bybit")
        service = build_execution(config, bus=MemoryStreamBus())
        await service.start()
        try:
            bybit = InstrumentId("bybit", "BTC/USDT")
            outside = await service.gateway.venues["bybit"].submit_order(
                dataclasses.replace(order(0, kind="market", prefix="smc-n"), instrument_id=bybit)
            )
            for n in range(1, 101):
                cmd = dataclasses.replace(order(n, kind="market", prefix="smc-n"), instrument_id=bybit)
                assert await service.gateway.submit(cmd) is not None
            _, repo = build_control(migrated_pg_url, None)
            repo.mark_history_unverified(_days_ago_ms(1))
            problems = await service.gateway.reconcile()
            assert len(problems) == 1 and str(outside.venue_order_id) in problems[0], problems
        finally:
            await close_execution(service)


async def test_more_history_than_the_requests_allowed_is_a_problem_not_a_pass(
    sim: ExchangeSimulator, migrated_pg_url: str
) -> None:
    # a restore from a backup 250 days old: 250 windows of 24 hours at Binance, beyond what one
    # reconciliation asks; not compared is not clean
    service = build_execution(execution_config(migrated_pg_url, None, sim), bus=MemoryStreamBus())
    await service.start()
    try:
        _, repo = build_control(migrated_pg_url, None)
        repo.mark_history_unverified(_days_ago_ms(250))
        problems = await service.gateway.reconcile()
        assert len(problems) == 1 and "need more than 200 requests" in problems[0], problems
        assert service.gateway.halted
    finally:
        await close_execution(service)
