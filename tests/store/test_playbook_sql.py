"""Every SQL statement of the playbook runs verbatim on PostgreSQL, database ``smc_trading``.

The statements below are copied character for character from the playbook
(``shared/seed/000_3a10138110158ae2.txt``); the test also checks that the copy is still verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, create_engine, text
from tests._shared import PROJECT_ROOT
from tests.conftest import create_pg_database, drop_pg_database

from smc_agent.store import migrate
from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models import Trade, User, UserSession

pytestmark = pytest.mark.postgres

USERS_COUNT = "SELECT COUNT(*) FROM users;"
SESSIONS = """
   SELECT username, login_time, ip_address, user_agent
   FROM user_sessions
   WHERE login_time > NOW() - INTERVAL '2 hours'
   ORDER BY login_time DESC;
   """
UNUSUAL_TRADES = """
   SELECT user_id, symbol, quantity, price, timestamp
   FROM trades
   WHERE timestamp > NOW() - INTERVAL '2 hours'
   AND (quantity > 10000 OR ABS(price - market_price) / market_price > 0.1)
   ORDER BY timestamp DESC;
   """
DISABLE = """
   UPDATE users SET is_active = false WHERE id IN ('suspicious-user-id-1', 'suspicious-user-id-2');
   """
BY_EXCHANGE = """
   SELECT exchange, COUNT(*) as trade_count
   FROM trades
   WHERE timestamp > NOW() - INTERVAL '5 minutes'
   GROUP BY exchange;
   """
CONNECTIONS = """
   SELECT count(*) as active_connections, state
   FROM pg_stat_activity
   GROUP BY state;
   """
# The playbook's data-loss query names a column that PostgreSQL does not have
# (pg_stat_user_tables has relname, not tablename); our runbooks use the corrected form.
TABLE_STATS_AS_WRITTEN = """
   SELECT schemaname, tablename, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup, n_dead_tup
   FROM pg_stat_user_tables
   ORDER BY schemaname, tablename;
   """


def _playbook_text() -> str:
    path = (PROJECT_ROOT / ".." / "shared" / "seed" / "000_3a10138110158ae2.txt").resolve()
    if not path.exists():
        pytest.skip(f"playbook not found at {path}")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "statement",
    [USERS_COUNT, SESSIONS, UNUSUAL_TRADES, DISABLE, BY_EXCHANGE, CONNECTIONS, TABLE_STATS_AS_WRITTEN],
)
def test_statements_are_verbatim_copies(statement: str) -> None:
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    assert squash(statement) in squash(_playbook_text())


@pytest.fixture
def smc_trading(pg_server: str) -> Iterator[Engine]:
    """A freshly migrated database literally named smc_trading (one test run at a time uses it)."""
    lock = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with lock.connect() as held:
        held.execute(text("SELECT pg_advisory_lock(424242)"))
        url = create_pg_database("smc_trading")
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
            drop_pg_database("smc_trading")
            held.execute(text("SELECT pg_advisory_unlock(424242)"))
    lock.dispose()


def _seed(engine: Engine) -> dict[str, object]:
    now = datetime.now(UTC)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        users = [User(id=f"suspicious-user-id-{i}", username=f"sus{i}", password_hash="x") for i in (1, 2)]
        users.append(User(id="usr_normal", username="alice", password_hash="x"))
        s.add_all(users)
        s.flush()
        s.add_all(
            [
                UserSession(
                    user_id="usr_normal",
                    username="alice",
                    login_time=now - timedelta(minutes=30),
                    ip_address="10.0.0.5",
                    user_agent="curl/8",
                ),
                UserSession(
                    user_id="suspicious-user-id-1",
                    username="sus1",
                    login_time=now - timedelta(minutes=5),
                    ip_address="203.0.113.9",
                    user_agent="python-requests",
                ),
                UserSession(
                    user_id="usr_normal",
                    username="alice",
                    login_time=now - timedelta(hours=3),
                    ip_address="10.0.0.5",
                    user_agent="old",
                ),
            ]
        )

        def trade(tid: str, **kw: object) -> Trade:
            base: dict[str, object] = dict(
                venue_trade_id=tid,
                user_id="usr_normal",
                exchange="binance",
                symbol="BTC/USDT",
                side="buy",
                quantity=Decimal("0.5"),
                price=Decimal("50000"),
                market_price=Decimal("50010"),
                timestamp=now - timedelta(minutes=1),
            )
            base.update(kw)
            return Trade(**base)  # type: ignore[arg-type]

        s.add_all(
            [
                trade("n1"),
                trade("n2", exchange="bybit"),
                trade("n3", exchange="bybit", timestamp=now - timedelta(minutes=2)),
                trade(
                    "big",
                    user_id="suspicious-user-id-1",
                    quantity=Decimal("25000"),
                    price=Decimal("1.2"),
                    market_price=Decimal("1.2"),
                    symbol="DOGE/USDT",
                    timestamp=now - timedelta(minutes=20),
                ),
                trade(
                    "off",
                    user_id="suspicious-user-id-2",
                    price=Decimal("56000"),
                    market_price=Decimal("50000"),
                    timestamp=now - timedelta(minutes=40),
                ),
                trade(
                    "edge",
                    price=Decimal("55000"),
                    market_price=Decimal("50000"),  # exactly 10%: not unusual
                    timestamp=now - timedelta(minutes=50),
                ),
                trade("old", quantity=Decimal("99999"), timestamp=now - timedelta(hours=5)),
            ]
        )
    return {"now": now}


def test_playbook_sql_runs_unchanged(smc_trading: Engine) -> None:
    assert smc_trading.url.database == "smc_trading"
    _seed(smc_trading)
    with smc_trading.begin() as conn:
        assert conn.execute(text(USERS_COUNT)).scalar_one() == 3

        sessions = conn.execute(text(SESSIONS)).all()
        assert [(r.username, r.ip_address, r.user_agent) for r in sessions] == [
            ("sus1", "203.0.113.9", "python-requests"),
            ("alice", "10.0.0.5", "curl/8"),
        ]
        assert sessions[0].login_time.tzinfo is not None

        unusual = conn.execute(text(UNUSUAL_TRADES)).all()
        assert [(r.user_id, r.symbol, r.quantity) for r in unusual] == [
            ("suspicious-user-id-1", "DOGE/USDT", Decimal("25000")),
            ("suspicious-user-id-2", "BTC/USDT", Decimal("0.5")),
        ]

        counts = dict(conn.execute(text(BY_EXCHANGE)).all())
        assert counts == {"binance": 1, "bybit": 2}

        result = conn.execute(text(DISABLE))
        assert result.rowcount == 2
        active = dict(conn.execute(text("SELECT id, is_active FROM users")).all())
        assert active == {"suspicious-user-id-1": False, "suspicious-user-id-2": False, "usr_normal": True}

        states = conn.execute(text(CONNECTIONS)).all()
        assert sum(r.active_connections for r in states) >= 1
        assert any(r.state == "active" for r in states)


def test_table_stats_query_needs_relname(smc_trading: Engine) -> None:
    """As written the playbook's query fails on real PostgreSQL; the corrected form works."""
    from sqlalchemy.exc import ProgrammingError

    with smc_trading.connect() as conn, pytest.raises(ProgrammingError, match="tablename"):
        conn.execute(text(TABLE_STATS_AS_WRITTEN))
    corrected = TABLE_STATS_AS_WRITTEN.replace("tablename", "relname")
    with smc_trading.connect() as conn:
        names = {r.relname for r in conn.execute(text(corrected))}
    assert {"users", "trades", "user_sessions"} <= names
