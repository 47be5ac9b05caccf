"""The candle store: a Protocol, and its implementation on the ``candles`` table (SQLAlchemy).

Unique per (exchange, symbol, timeframe, open time): writing a candle that is already stored
changes nothing, so a resumed or repeated download never duplicates rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.candle import Candle
from smc_agent.store.models import Candle as CandleRow

END_OF_TIME_MS = 4_102_444_800_000
"""2100-01-01 UTC: the ``end_ms`` of an open-ended range (a time the store's datetimes can hold)."""


@runtime_checkable
class CandleStore(Protocol):
    def put(self, candles: Sequence[Candle], *, source: str = "") -> int:
        """Store candles (ignoring ones already stored); return how many were new."""
        ...

    def get(self, venue: str, symbol: str, timeframe: str, *, start_ms: int, end_ms: int) -> list[Candle]:
        """Candles with ``start_ms <= open_time < end_ms``, in order."""
        ...

    def latest_open_time(self, venue: str, symbol: str, timeframe: str) -> int | None: ...


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class SqlCandleStore:
    """``CandleStore`` on the SQL ``candles`` table (SQLite or PostgreSQL). Each ``put`` is one
    transaction, so a page of candles is either stored completely or not at all."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def put(self, candles: Sequence[Candle], *, source: str = "") -> int:
        if not candles:
            return 0
        rows = [
            {
                "exchange": c.venue,
                "symbol": c.symbol,
                "timeframe": c.timeframe,
                "open_time": _dt(c.open_time),
                "open": Decimal(repr(float(c.open))),
                "high": Decimal(repr(float(c.high))),
                "low": Decimal(repr(float(c.low))),
                "close": Decimal(repr(float(c.close))),
                "volume": Decimal(repr(float(c.volume))),
                "source": source or None,
            }
            for c in candles
        ]
        with self.session_factory() as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = (
                insert(CandleRow)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["exchange", "symbol", "timeframe", "open_time"])
                .returning(CandleRow.id)  # only inserted rows come back (rowcount is unreliable here)
            )
            return len(session.execute(stmt).all())

    def get(self, venue: str, symbol: str, timeframe: str, *, start_ms: int, end_ms: int) -> list[Candle]:
        stmt = (
            select(CandleRow)
            .where(
                CandleRow.exchange == venue,
                CandleRow.symbol == symbol,
                CandleRow.timeframe == timeframe,
                CandleRow.open_time >= _dt(start_ms),
                CandleRow.open_time < _dt(end_ms),
            )
            .order_by(CandleRow.open_time)
        )
        with self.session_factory() as session:
            return [
                Candle(
                    r.exchange,
                    r.symbol,
                    r.timeframe,
                    _ms(r.open_time),
                    float(r.open),
                    float(r.high),
                    float(r.low),
                    float(r.close),
                    float(r.volume),
                )
                for r in session.scalars(stmt)
            ]

    def latest_open_time(self, venue: str, symbol: str, timeframe: str) -> int | None:
        stmt = select(func.max(CandleRow.open_time)).where(
            CandleRow.exchange == venue, CandleRow.symbol == symbol, CandleRow.timeframe == timeframe
        )
        with self.session_factory() as session:
            latest = session.scalar(stmt)
        return None if latest is None else _ms(latest)
