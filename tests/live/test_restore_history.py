"""The playbook restores the database from a backup: an order the venue filled after that backup is
gone from the database, its position with it. Reconciliation compared only open orders and passed;
trading resumed on books that were not the venue's. Now the venue's fills since the newest stored
order are compared too: the restored engine stays halted until the operator has reconciled the
account by hand and said so (`smc-agent reconcile accept`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from smc_agent.cli.main import app
from smc_agent.control.clock import WallClock
from smc_agent.live.streams import MemoryStreamBus
from smc_agent.live.wiring import build_control, build_execution, close_execution
from smc_agent.ops.backup.service import BackupService
from smc_agent.ops.backup.storage import DirectoryStore
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.models import AuditLog
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, order


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
