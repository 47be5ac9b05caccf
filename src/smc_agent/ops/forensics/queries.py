"""The playbook's forensic SQL ("Forensic Analysis"), runnable on PostgreSQL and SQLite.

On PostgreSQL the playbook's statements run as written (with the window as a bound parameter and
``NULLIF`` guarding a zero market price). SQLite keeps money as exact decimal *text*, so there the
same filter is applied in Python with ``Decimal`` (never float).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from smc_agent.store.models import Trade, UserSession

QUANTITY_LIMIT = Decimal(10000)
PRICE_DEVIATION = Decimal("0.1")

LOGINS_SQL = """
SELECT username, login_time, ip_address, user_agent
FROM user_sessions
WHERE login_time > :since
ORDER BY login_time DESC
"""

UNUSUAL_TRADES_SQL = """
SELECT user_id, symbol, quantity, price, timestamp
FROM trades
WHERE timestamp > :since
AND (quantity > :quantity_limit OR ABS(price - market_price) / NULLIF(market_price, 0) > :deviation)
ORDER BY timestamp DESC
"""


@dataclass(frozen=True, slots=True)
class Window:
    now: datetime
    since: timedelta

    @property
    def start(self) -> datetime:
        return self.now - self.since


def parse_since(value: str) -> timedelta:
    """``2h``, ``30m``, ``90s``, ``1d`` (the playbook's ``INTERVAL '2 hours'``)."""
    text_ = value.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text_) < 2 or text_[-1] not in units or not text_[:-1].isdigit():
        raise ValueError(f"--since {value!r}: expected a number and a unit, e.g. 2h, 30m, 1d")
    return timedelta(seconds=int(text_[:-1]) * units[text_[-1]])


def logins(session: Session, window: Window) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(UserSession)
        .where(UserSession.login_time > window.start)
        .order_by(UserSession.login_time.desc())
    ).all()
    return [
        {
            "username": r.username,
            "login_time": r.login_time.isoformat(),
            "ip_address": r.ip_address,
            "user_agent": r.user_agent,
            "revoked": r.revoked_at is not None,
        }
        for r in rows
    ]


def is_unusual(quantity: Decimal, price: Decimal, market_price: Decimal) -> bool:
    if quantity > QUANTITY_LIMIT:
        return True
    return market_price != 0 and abs(price - market_price) / market_price > PRICE_DEVIATION


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def unusual_trades(session: Session, window: Window) -> list[dict[str, Any]]:
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(UNUSUAL_TRADES_SQL),
            {"since": window.start, "quantity_limit": QUANTITY_LIMIT, "deviation": PRICE_DEVIATION},
        ).all()
        found = [(r.user_id, r.symbol, Decimal(r.quantity), Decimal(r.price), r.timestamp) for r in rows]
    else:
        trades = session.scalars(
            select(Trade).where(Trade.timestamp > window.start).order_by(Trade.timestamp.desc())
        ).all()
        found = [
            (t.user_id, t.symbol, t.quantity, t.price, t.timestamp)
            for t in trades
            if is_unusual(t.quantity, t.price, t.market_price)
        ]
    return [
        {
            "user_id": u,
            "symbol": s,
            "quantity": _plain(q),
            "price": _plain(p),
            "timestamp": ts.isoformat(),
        }
        for u, s, q, p, ts in found
    ]


def database_activity(session: Session) -> dict[str, Any]:
    """Who is connected and doing what (PostgreSQL ``pg_stat_activity``), for evidence bundles."""
    if session.get_bind().dialect.name != "postgresql":
        return {"backend": session.get_bind().dialect.name, "activity": []}
    rows = (
        session.execute(
            text(
                "SELECT pid, usename, application_name, client_addr::text AS client_addr, state, query_start, "
                "left(query, 300) AS query FROM pg_stat_activity WHERE datname = current_database() ORDER BY pid"
            )
        )
        .mappings()
        .all()
    )
    return {"backend": "postgresql", "activity": [dict(r) for r in rows]}
