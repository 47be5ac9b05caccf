"""The halt latch's compare-and-set on real PostgreSQL and SQLite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smc_agent.core.control import HaltLatch
from smc_agent.store.control_repo import DbControlJournal
from smc_agent.store.db import make_engine, make_session_factory


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest) -> DbControlJournal:
    fixture = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url"
    return DbControlJournal(make_session_factory(make_engine(request.getfixturevalue(fixture))))


def test_swap_latch_writes_only_over_the_expected_value(journal: DbControlJournal) -> None:
    first = HaltLatch(reason="drill", actor="ops", source="cli", since_ms=1)
    assert journal.swap_latch(None, first) is True
    assert journal.swap_latch(None, first) is False  # a latch exists: an insert loses
    seen = replace(first, key_seen=True)
    assert journal.swap_latch(first, seen) is True
    stale = replace(first, status="release_requested")
    assert journal.swap_latch(first, stale) is False  # decided on a read that is no longer true
    assert journal.read_latch() == seen
    assert journal.swap_latch(first, None) is False
    assert journal.swap_latch(seen, None) is True
    assert journal.read_latch() is None
    assert journal.swap_latch(None, None) is True


def test_swap_latch_accepts_a_latch_stored_in_an_older_form(journal: DbControlJournal) -> None:
    """A latch written before ``key_seen`` existed (or by hand, keys in another order) still releases."""
    import json

    from smc_agent.store.db import transaction
    from smc_agent.store.models import ControlState

    legacy = {"since_ms": 5, "source": "cli", "actor": "ops", "reason": "old build", "status": "halted"}
    with transaction(journal._factory) as session:
        session.add(ControlState(key="halt_latch", value=json.dumps(legacy)))
    stored = journal.read_latch()
    assert stored is not None and stored.key_seen is False
    marked = replace(stored, status="release_requested")
    assert journal.swap_latch(replace(stored, reason="other"), marked) is False
    assert journal.swap_latch(stored, marked) is True
    assert journal.read_latch() == marked
