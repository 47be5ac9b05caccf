"""Revision 0003: orders get the risk check and figures of a denial, and the rows of a bot written
without an owner (user_id NULL, as the trading runtime wrote them) are given the bot's owner. The
repository stores denials idempotently and records a bot's orders for its owner."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.store import migrate
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.models import Bot, User
from smc_agent.store.trading_repo import Denial, TradingRepo


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def test_0003_gives_ownerless_bot_rows_their_owner_and_goes_down_again(url: str) -> None:
    migrate.upgrade(url, "0002")
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():  # users and bots are the same at 0002
            session.add(User(id="usr_u", username="u", password_hash="x", role="trader"))
            session.flush()
            session.add(
                Bot(
                    id="bot_b",
                    user_id="usr_u",
                    name="b",
                    strategy="drill",
                    venue="binance",
                    symbols=["BTC/USDT"],
                    timeframes=["1m"],
                    state="running",
                )
            )
        with engine.begin() as conn:
            for oid, bot in (("ord_1", "'bot_b'"), ("ord_2", "NULL")):
                conn.execute(
                    text(
                        "INSERT INTO orders (id, client_order_id, bot_id, exchange, symbol, side, type, "
                        "reduce_only, quantity, filled_quantity, status, created_at, updated_at) VALUES "
                        f"('{oid}', 'c-{oid}', {bot}, 'binance', 'BTC/USDT', 'buy', 'market', false, 1, 1, "
                        "'filled', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    )
                )
            conn.execute(
                text(
                    "INSERT INTO positions (id, bot_id, exchange, symbol, quantity, average_price, "
                    "realized_pnl, fees, stranded, updated_at) VALUES ('pos_1', 'bot_b', 'binance', "
                    "'BTC/USDT', 1, 100, 0, 0, false, CURRENT_TIMESTAMP)"
                )
            )
        migrate.upgrade(url)
        with engine.connect() as conn:
            owners = dict(conn.execute(text("SELECT id, user_id FROM orders")).all())
            assert owners == {"ord_1": "usr_u", "ord_2": None}
            assert conn.execute(text("SELECT user_id FROM positions")).scalar_one() == "usr_u"
            row = conn.execute(text("SELECT risk_check, risk_figures FROM orders WHERE id = 'ord_1'")).one()
            assert tuple(row) == (None, None)
        migrate.downgrade(url, "0002")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM orders")).scalar_one() == 2
    finally:
        engine.dispose()


def test_denials_are_stored_once_and_orders_of_a_bot_are_its_owners(url: str) -> None:
    migrate.upgrade(url)
    repo = TradingRepo(make_session_factory(make_engine(url)))
    with repo._factory() as session, session.begin():
        session.add(User(id="usr_u", username="u", password_hash="x", role="trader"))
    bot = repo.create_bot(
        user_id="usr_u", name="b", strategy="drill", venue="binance", symbols=["BTC/USDT"], timeframes=["1m"]
    )
    now = int(time.time() * 1000)
    cmd = SubmitOrder(
        ts_event=now,
        ts_init=now,
        strategy_id=StrategyId(bot),
        instrument_id=InstrumentId("binance", "BTC/USDT"),
        client_order_id=ClientOrderId("c-intent"),
        side=OrderSide.SELL,
        order_type=OrderType.LIMIT,
        qty=Decimal(1),
        price=Decimal(100),
    )
    assert repo.record_intent(cmd, bot_id=bot) is True
    assert repo.record_intent(cmd, bot_id=bot) is False  # write-ahead unchanged: known id
    denial = Denial(
        client_order_id="c-denied",
        bot_id=bot,
        exchange="binance",
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        quantity=Decimal(3),
        price=Decimal(99),
        reason="max_open_orders: 50 open orders",
        check="max_open_orders",
        figures={"open": "50", "limit": "50"},
        reduce_only=True,
        tag="entry",
        stop_loss=Decimal(95),
        take_profit=Decimal(120),
    )
    assert repo.record_denial(denial) is True
    assert repo.record_denial(denial) is False
    assert repo.record_denial(Denial(**{**_fields(denial), "client_order_id": "c-intent"})) is False
    stored = {o.client_order_id: o for o in repo.all_orders()}
    assert set(stored) == {"c-intent", "c-denied"}
    assert stored["c-intent"].user_id == "usr_u" and stored["c-intent"].status == "initialized"
    d = stored["c-denied"]
    assert (d.user_id, d.bot_id, d.status, d.side, d.type, d.quantity, d.price, d.reduce_only, d.tag) == (
        "usr_u",
        bot,
        "denied",
        "buy",
        "limit",
        Decimal(3),
        Decimal(99),
        True,
        "entry",
    )
    assert not d.is_open and "c-denied" not in {o.client_order_id for o in repo.open_orders()}
    assert (d.stop_loss, d.take_profit) == (Decimal(95), Decimal(120))  # an exit_prices denial's subject
    with repo._factory() as session:
        check, figures = session.execute(
            text("SELECT risk_check, risk_figures FROM orders WHERE client_order_id = 'c-denied'")
        ).one()
    assert check == "max_open_orders"
    assert (figures if isinstance(figures, dict) else json.loads(figures)) == {
        "open": "50",
        "limit": "50",
    }


def _fields(denial: Denial) -> dict[str, object]:
    return {name: getattr(denial, name) for name in denial.__slots__}  # type: ignore[attr-defined]
