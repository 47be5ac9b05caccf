"""One runbook run at a time, across processes: a lease row in ``control_state``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.store.db import transaction
from smc_agent.store.models import ControlState

LOCK_KEY = "runbook:lock"
LEASE = timedelta(minutes=30)


class RunbookBusy(RuntimeError):
    pass


class RunbookLock:
    def __init__(self, factory: sessionmaker[Session], *, owner: str, runbook: str) -> None:
        self._factory = factory
        self._value = json.dumps({"owner": owner, "runbook": runbook})

    def acquire(self, now: datetime) -> None:
        try:
            with transaction(self._factory) as s:
                s.add(ControlState(key=LOCK_KEY, value=self._value, expires_at=now + LEASE, updated_at=now))
            return
        except IntegrityError:
            pass
        with transaction(self._factory) as s:  # take over an expired lease (a crashed run)
            taken = s.execute(
                update(ControlState)
                .where(ControlState.key == LOCK_KEY, ControlState.expires_at < now)
                .values(value=self._value, expires_at=now + LEASE, updated_at=now)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return
            holder = s.get(ControlState, LOCK_KEY)
            who = "unknown" if holder is None else holder.value
        raise RunbookBusy(f"another runbook run is in progress ({who}); wait for it or let its lease expire")

    def release(self) -> None:
        with transaction(self._factory) as s:
            s.execute(
                delete(ControlState).where(ControlState.key == LOCK_KEY, ControlState.value == self._value)
            )
