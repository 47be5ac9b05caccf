"""Venue failover state, shared by every process through the control store.

``FailoverManager().activate_failover('binance', 'bybit')`` (the playbook, from another process)
writes the active venue to the control store and records a ``failover_events`` row; running
pipelines and order gateways poll :meth:`FailoverManager.active_venue` and switch within a second.
Positions left on the old venue are listed as stranded until reconciled.
"""

from __future__ import annotations

import json
from typing import Any

from smc_agent.control.clock import WallClock
from smc_agent.control.epoch import epoch_present
from smc_agent.core.clock import Clock
from smc_agent.core.control import ControlJournal, KeyValueStore
from smc_agent.logs import get_logger

FAILOVER_KEY = "smc:failover"
KNOWN_VENUES = ("binance", "bybit")

log = get_logger("smc_agent.failover")


class FailoverManager:
    def __init__(
        self,
        *,
        kv: KeyValueStore,
        journal: ControlJournal,
        primary: str = "binance",
        backup: str = "bybit",
        clock: Clock | None = None,
    ) -> None:
        self.kv = kv
        self.journal = journal
        self.primary = primary
        self.backup = backup
        self.clock: Clock = clock or WallClock()

    def _read(self) -> dict[str, Any] | None:
        raw = self.kv.get(FAILOVER_KEY)
        if raw is None and not epoch_present(self.kv):  # the store lost its data: the database knows
            return failover_from_journal(self.journal)
        return None if raw is None else dict(json.loads(raw))

    def active_venue(self) -> str:
        state = self._read()
        return self.primary if state is None else str(state["active"])

    def status(self) -> dict[str, Any]:
        state = self._read()
        active = self.primary if state is None else str(state["active"])
        return {
            "active_venue": active,
            "primary_venue": self.primary,
            "backup_venue": self.backup,
            "failover_active": state is not None,
            "from_venue": None if state is None else state.get("from"),
            "reason": None if state is None else state.get("reason"),
            "since_ms": None if state is None else state.get("since_ms"),
            "actor": None if state is None else state.get("actor"),
            "stranded_positions": self.journal.stranded_positions(active),
        }

    def activate_failover(
        self,
        from_venue: str,
        to_venue: str,
        *,
        reason: str = "operator failover",
        actor: str = "operator",
        source: str = "cli",
    ) -> dict[str, Any]:
        for venue in (from_venue, to_venue):
            if venue not in KNOWN_VENUES:
                raise ValueError(f"unknown venue {venue!r}: expected one of {', '.join(KNOWN_VENUES)}")
        if from_venue == to_venue:
            raise ValueError("failover needs two different venues")
        current = self.active_venue()
        if current == to_venue:
            log.info("failover already active", active_venue=to_venue)
            return self.status()
        if current != from_venue:
            log.warning(
                "failover requested from a venue that is not active", active=current, requested=from_venue
            )
        state = {
            "active": to_venue,
            "from": current,
            "reason": reason,
            "actor": actor,
            "since_ms": self.clock.timestamp_ms(),
        }
        self.kv.set(FAILOVER_KEY, json.dumps(state))
        self.journal.record_failover(
            action="activate",
            from_venue=current,
            to_venue=to_venue,
            reason=reason,
            actor=actor,
            source=source,
        )
        log.warning(f"failover activated: {current} -> {to_venue}", reason=reason, actor=actor)
        return self.status()

    def deactivate_failover(
        self, *, reason: str = "primary venue recovered", actor: str = "operator", source: str = "cli"
    ) -> dict[str, Any]:
        state = self._read()
        if state is None:
            return self.status()
        self.kv.delete(FAILOVER_KEY)
        self.journal.record_failover(
            action="deactivate",
            from_venue=str(state["active"]),
            to_venue=self.primary,
            reason=reason,
            actor=actor,
            source=source,
        )
        log.warning(f"failover deactivated: {state['active']} -> {self.primary}", reason=reason, actor=actor)
        return self.status()


def failover_from_journal(journal: ControlJournal) -> dict[str, Any] | None:
    """The failover state the newest failover event left (None: no failover active)."""
    event = journal.last_failover()
    if event is None or event["action"] != "activate":
        return None
    keys = ("from", "reason", "actor", "since_ms")
    return {"active": event["to"], **{k: event[k] for k in keys}}


def restore_failover_key(kv: KeyValueStore, journal: ControlJournal) -> bool:
    """Put the failover state back into a control store that lost it; whether there was one."""
    state = failover_from_journal(journal)
    if state is not None:
        kv.set(FAILOVER_KEY, json.dumps(state))
    return state is not None
