"""Database side of the control plane: the embedded key/value store and the control journal.

The embedded store is what ``emergency_halt`` lives in when no Redis is configured (the demo);
the journal holds the halt latch and the audit rows in both set-ups.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.control import ControlStoreUnavailable, HaltLatch
from smc_agent.store.models import ControlState, FailoverEvent, Position, TradingStateEvent
from smc_agent.store.types import utcnow

LATCH_KEY = "halt_latch"
EPOCH_KEY = "control_store_epoch"  # the control store's epoch marker, as last recorded
T = TypeVar("T")


class DbKeyValueStore:
    """Key/value with expiry on the ``control_state`` table (keys prefixed ``kv:``)."""

    name = "embedded"

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def _run(self, func: Callable[[Session], T]) -> T:
        try:
            with self._factory() as session, session.begin():
                return func(session)
        except SQLAlchemyError as exc:
            raise ControlStoreUnavailable(
                f"embedded control store unreachable: {exc.__class__.__name__}"
            ) from exc

    def get(self, key: str) -> str | None:
        def op(session: Session) -> str | None:
            row = session.get(ControlState, f"kv:{key}")
            if row is None:
                return None
            if row.expires_at is not None and row.expires_at <= utcnow():
                session.delete(row)
                return None
            return row.value

        result: str | None = self._run(op)
        return result

    def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        def op(session: Session) -> None:
            expires = None if ttl_s is None else utcnow() + timedelta(seconds=ttl_s)
            row = session.get(ControlState, f"kv:{key}")
            if row is None:
                session.add(ControlState(key=f"kv:{key}", value=value, expires_at=expires))
            else:
                row.value, row.expires_at = value, expires

        self._run(op)

    def add(self, key: str, value: str) -> bool:
        def op(session: Session) -> bool:
            row = session.get(ControlState, f"kv:{key}", with_for_update=True)
            if row is not None and (row.expires_at is None or row.expires_at > utcnow()):
                return False
            if row is None:
                session.add(ControlState(key=f"kv:{key}", value=value))
            else:
                row.value, row.expires_at = value, None
            return True

        try:
            result: bool = self._run(op)
        except ControlStoreUnavailable:
            if self.get(key) is not None:  # another writer inserted it first (primary key)
                return False
            raise
        return result

    def delete(self, key: str) -> bool:
        def op(session: Session) -> bool:
            result = session.execute(delete(ControlState).where(ControlState.key == f"kv:{key}"))
            return bool(getattr(result, "rowcount", 0))

        result: bool = self._run(op)
        return result

    def ttl(self, key: str) -> float | None:
        def op(session: Session) -> float | None:
            row = session.get(ControlState, f"kv:{key}")
            if row is None or row.expires_at is None:
                return None
            return max(0.0, (row.expires_at - utcnow()).total_seconds())

        result: float | None = self._run(op)
        return result

    def ping(self) -> float:
        start = time.perf_counter()
        self._run(lambda session: session.execute(text("SELECT 1")))
        return time.perf_counter() - start


class DbControlJournal:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def read_latch(self) -> HaltLatch | None:
        with self._factory() as session:
            row = session.get(ControlState, LATCH_KEY)
            return None if row is None else HaltLatch(**json.loads(row.value))

    def write_latch(self, latch: HaltLatch | None) -> None:
        with self._factory() as session, session.begin():
            row = session.get(ControlState, LATCH_KEY)
            if latch is None:
                if row is not None:
                    session.delete(row)
                return
            value = json.dumps(asdict(latch))
            if row is None:
                session.add(ControlState(key=LATCH_KEY, value=value))
            else:
                row.value = value

    def swap_latch(self, expected: HaltLatch | None, new: HaltLatch | None) -> bool:
        """Compare-and-set in one statement, so that two processes observing at once cannot overwrite
        each other's transition with a decision taken on a stale read."""
        old_value = None if expected is None else json.dumps(asdict(expected))
        new_value = None if new is None else json.dumps(asdict(new))
        try:
            with self._factory() as session, session.begin():
                if old_value is None:
                    if new_value is None:
                        return session.get(ControlState, LATCH_KEY) is None
                    session.add(ControlState(key=LATCH_KEY, value=new_value))
                    return True
                if self._swap(session, old_value, new_value):
                    return True
                # The stored text may be a non-canonical form of the same latch (written by an earlier
                # version without a newer field, or by hand): compare parsed values, then swap on the
                # exact text just read (still one atomic statement).
                row = session.get(ControlState, LATCH_KEY)
                if row is None or row.value == old_value:
                    return False
                try:
                    same = HaltLatch(**json.loads(row.value)) == expected
                except (ValueError, TypeError):
                    same = False
                return same and self._swap(session, row.value, new_value)
        except IntegrityError:  # another process inserted a latch first
            return False

    @staticmethod
    def _swap(session: Session, old_value: str, new_value: str | None) -> bool:
        where = (ControlState.key == LATCH_KEY) & (ControlState.value == old_value)
        if new_value is None:
            result = session.execute(delete(ControlState).where(where))
        else:
            result = session.execute(update(ControlState).where(where).values(value=new_value))
        return bool(getattr(result, "rowcount", 0))

    def record_state_change(
        self, *, state: str, previous: str | None, reason: str, actor: str, source: str
    ) -> None:
        with self._factory() as session, session.begin():
            session.add(
                TradingStateEvent(
                    state=state, previous_state=previous, reason=reason, actor=actor, source=source
                )
            )

    def record_failover(
        self, *, action: str, from_venue: str | None, to_venue: str, reason: str, actor: str, source: str
    ) -> None:
        with self._factory() as session, session.begin():
            session.add(
                FailoverEvent(
                    action=action,
                    from_venue=from_venue,
                    to_venue=to_venue,
                    reason=reason,
                    actor=actor,
                    source=source,
                )
            )

    def stranded_positions(self, active_venue: str) -> list[dict[str, Any]]:
        with self._factory() as session:
            rows = session.scalars(select(Position).where(Position.exchange != active_venue)).all()
            return [
                {"exchange": p.exchange, "symbol": p.symbol, "quantity": str(p.quantity), "bot_id": p.bot_id}
                for p in rows
                if p.quantity != Decimal(0)
            ]

    def read_store_epoch(self) -> str | None:
        with self._factory() as session:
            row = session.get(ControlState, EPOCH_KEY)
            return None if row is None else row.value

    def write_store_epoch(self, epoch: str) -> None:
        with self._factory() as session, session.begin():
            row = session.get(ControlState, EPOCH_KEY)
            if row is None:
                session.add(ControlState(key=EPOCH_KEY, value=epoch))
            else:
                row.value = epoch

    def last_breaker_change(self) -> dict[str, str] | None:
        with self._factory() as session:
            row = session.scalars(
                select(TradingStateEvent)
                .where(TradingStateEvent.source == "breaker")
                .order_by(TradingStateEvent.created_at.desc())
                .limit(1)
            ).first()
            return None if row is None else {"state": row.state, "reason": row.reason, "actor": row.actor}

    def last_failover(self) -> dict[str, Any] | None:
        with self._factory() as session:
            row = session.scalars(
                select(FailoverEvent).order_by(FailoverEvent.created_at.desc()).limit(1)
            ).first()
            if row is None:
                return None
            return {
                "action": row.action,
                "from": row.from_venue,
                "to": row.to_venue,
                "reason": row.reason,
                "actor": row.actor,
                "since_ms": int(row.created_at.timestamp() * 1000),
            }

    def ping(self) -> float:
        start = time.perf_counter()
        with self._factory() as session:
            session.execute(text("SELECT 1"))
        return time.perf_counter() - start
