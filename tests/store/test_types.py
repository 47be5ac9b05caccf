from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models import Trade

decimals = st.decimals(min_value=Decimal("-1e18"), max_value=Decimal("1e18"), places=8, allow_nan=False)


def _trade(**kw: object) -> Trade:
    base = dict(
        exchange="binance",
        venue_trade_id="t1",
        symbol="BTC/USDT",
        side="buy",
        quantity=Decimal("1"),
        price=Decimal("1"),
        market_price=Decimal("1"),
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
    )
    base.update(kw)
    return Trade(**base)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def test_money_is_exact_and_time_is_aware_utc(factory) -> None:  # type: ignore[no-untyped-def]
    price = Decimal("43125.123456789012345678")
    stamp = datetime(2024, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with transaction(factory) as s:
        s.add(_trade(price=price, quantity=Decimal("0.00000001"), timestamp=stamp))
    with factory() as s:
        row = s.scalars(select(Trade)).one()
    assert row.price == price
    assert row.quantity == Decimal("0.00000001")
    assert row.timestamp == stamp and row.timestamp.tzinfo is not None
    assert row.timestamp.utcoffset() == timedelta(0)


def test_money_refuses_float_and_naive_time(migrated_sqlite_url: str) -> None:
    factory = make_session_factory(make_engine(migrated_sqlite_url))
    with pytest.raises(StatementError, match="never float"), transaction(factory) as s:
        s.add(_trade(price=1.5))
    with pytest.raises(StatementError, match="timezone-aware"), transaction(factory) as s:
        s.add(_trade(timestamp=datetime(2024, 1, 1)))


def test_money_round_trips_on_sqlite(migrated_sqlite_url: str) -> None:
    factory = make_session_factory(make_engine(migrated_sqlite_url))

    @settings(max_examples=60, deadline=None)
    @given(value=decimals)
    def round_trip(value: Decimal) -> None:
        with transaction(factory) as s:
            s.query(Trade).delete()
            s.add(_trade(price=value))
        with factory() as s:
            assert s.scalars(select(Trade.price)).one() == value

    round_trip()
