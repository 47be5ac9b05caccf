"""Backups taken while trading writes, verified by real restores (SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.control.clock import WallClock
from smc_agent.control.trading import TradingControl
from smc_agent.core.enums import TradingState
from smc_agent.ops.backup.engines import BackupError
from smc_agent.ops.backup.service import BackupService
from smc_agent.ops.backup.storage import DirectoryStore
from smc_agent.store.control_repo import DbControlJournal, DbKeyValueStore
from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models import Incident, Order, Trade


class Trader(threading.Thread):
    """Writes an order, its trade and an incident per transaction until stopped."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        super().__init__(daemon=True)
        self.factory = factory
        self.committed: list[tuple[str, str, str]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                now = datetime.now(UTC)
                with transaction(self.factory) as s:
                    order = Order(
                        client_order_id=f"cid-{n}",
                        exchange="binance",
                        symbol="BTC/USDT",
                        side="buy",
                        type="market",
                        quantity=Decimal("0.5"),
                        status="filled",
                    )
                    s.add(order)
                    s.flush()
                    trade = Trade(
                        order_id=order.id,
                        exchange="binance",
                        venue_trade_id=f"t-{n}",
                        symbol="BTC/USDT",
                        side="buy",
                        quantity=Decimal("0.5"),
                        price=Decimal("43000.12"),
                        market_price=Decimal("43000"),
                        timestamp=now,
                    )
                    incident = Incident(
                        id=f"INC-TEST-{n:06d}", priority="P3", title=f"t{n}", impact="none", started_at=now
                    )
                    s.add_all([trade, incident])
                    s.flush()
                    ids = (order.id, trade.id, incident.id)
                self.committed.append(ids)
                time.sleep(0.002)
        except BaseException as exc:
            self.error = exc


def _present(factory: sessionmaker[Session]) -> tuple[set[str], set[str], set[str]]:
    with transaction(factory) as s:
        orders = set(s.scalars(select(Order.id)))
        trades = set(s.scalars(select(Trade.id)))
        incidents = set(s.scalars(select(Incident.id)))
        orphans = s.scalars(select(Trade.id).where(Trade.order_id.not_in(select(Order.id)))).all()
    assert not orphans, "a trade without its order: the backup was not consistent"
    return orders, trades, incidents


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    name = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url"
    return str(request.getfixturevalue(name))


def test_backup_during_trading_verifies_and_restores_every_row(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    control = TradingControl(kv=DbKeyValueStore(factory), journal=DbControlJournal(factory))
    service = BackupService(
        database_url=db_url, store=DirectoryStore(tmp_path / "backups"), clock=WallClock()
    )
    trader = Trader(factory)
    trader.start()
    try:
        while len(trader.committed) < 30:
            time.sleep(0.01)
        before = list(trader.committed)
        manifest = service.create(label="daily")
        returned = len(trader.committed)
        while len(trader.committed) < returned + 10:
            time.sleep(0.01)
    finally:
        trader.stop.set()
        trader.join(10)
    assert trader.error is None
    after = trader.committed[returned:]

    assert manifest["tables"]["orders"]["rows"] >= len(before)
    assert manifest["schema_revision"] is not None
    assert manifest["tables"]["orders"]["rows"] == manifest["tables"]["trades"]["rows"]
    report = service.verify(manifest["name"])
    assert report.ok, report.checks
    assert [c for c, _, _ in report.checks] == [
        "sha256",
        "gzip -t",
        "gunzip",
        "restore",
        "row counts and checksums",
    ]

    halts: list[str] = []

    def halt(reason: str) -> None:
        halts.append(reason)
        control.halt(reason=reason, actor="test", source="backup")

    with pytest.raises(PermissionError, match="confirmation"):
        service.restore(manifest["name"], halt=halt, confirmed=False)
    assert halts == []
    result = service.restore(manifest["name"], halt=halt, confirmed=True)
    assert result["emergency_backup"] is not None and len(halts) == 2
    orders, trades, incidents = _present(factory)
    assert {o for o, _, _ in before} <= orders
    assert {t for _, t, _ in before} <= trades
    assert {i for _, _, i in before} <= incidents
    assert not {o for o, _, _ in after} & orders  # written after the backup: not in it
    assert len(orders) == manifest["tables"]["orders"]["rows"]
    assert control.observe().state is TradingState.HALTED  # a restore never resumes trading
    assert [m["label"] for m in service.list_backups()] == ["daily", "emergency"]
    engine.dispose()


def test_verify_detects_a_damaged_backup_and_retention_prunes(
    migrated_sqlite_url: str, tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path / "b")
    service = BackupService(database_url=migrated_sqlite_url, store=store, clock=WallClock())
    names = [service.create(label=f"n{i}")["name"] for i in range(3)]
    assert store.names() == names  # oldest first
    path = store.root / names[-1]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = service.verify(names[-1])
    assert not report.ok
    failed = {c for c, ok, _ in report.checks if not ok}
    assert {"sha256", "gunzip"} <= failed
    with pytest.raises(BackupError, match="checksum mismatch"):
        service.restore(names[-1], halt=lambda r: None, confirmed=True, safety_backup=False)
    assert service.prune(keep=1) == names[:2]
    assert store.names() == names[2:]
    with gzip.open(store.root / names[2]) as fh:  # the survivor is intact
        assert fh.read(16).startswith(b"SQLite format 3")


@pytest.mark.postgres
def test_a_restore_while_an_engine_watches_the_halt_succeeds(
    migrated_pg_url: str, redis_pair: tuple[str, str], tmp_path: Path
) -> None:
    # a running engine latched the halt into the restored control tables between the restore and its
    # check: every restore with the services up ended "restored database differs from the backup"
    from smc_agent.control.redis_kv import RedisKeyValueStore

    engine = make_engine(migrated_pg_url)
    factory = make_session_factory(engine)
    kv = RedisKeyValueStore(redis_pair[0])
    control = TradingControl(kv=kv, journal=DbControlJournal(factory))
    service = BackupService(
        database_url=migrated_pg_url, store=DirectoryStore(tmp_path / "backups"), clock=WallClock()
    )
    name = service.create(label="daily")["name"]
    stop = threading.Event()
    observed: list[TradingState] = []
    errors: list[Exception] = []

    def watch() -> None:  # an execution engine's halt guard: observes every 20 ms
        watcher = TradingControl(kv=RedisKeyValueStore(redis_pair[0]), journal=DbControlJournal(factory))
        while not stop.is_set():
            try:
                observed.append(watcher.observe().state)
            except Exception as exc:  # the database is being replaced under it
                errors.append(exc)
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        result = service.restore(
            name,
            halt=lambda reason: control.halt(reason=reason, actor="test", source="backup"),
            confirmed=True,
        )
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(5)
    assert result["restored"] == name and result["not_compared"] == ["control_state", "trading_state_events"]
    assert TradingState.HALTED in observed and control.observe().state is TradingState.HALTED
    kv.close()
    engine.dispose()
