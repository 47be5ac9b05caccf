"""Trading state: the ONE facade behind the API, the CLI and the playbook's raw Redis commands.

Contract (DESIGN.md §4):

- ``SET emergency_halt true`` on the control store halts everything. The halt is *latched* in the
  database the first time any process observes it, so the key's expiry never resumes trading:
  expiry only raises an alert.
- ``DEL emergency_halt`` (or :meth:`TradingControl.request_release`) is an explicit release request.
  A running engine verifies the system and calls :meth:`TradingControl.complete_release`; only then
  is the latch cleared and ``trading resumed`` logged. A failed verification keeps trading halted.
- A control store that does not answer means HALTED (fail closed), never "trading blind".

A store that lost its data (no epoch marker, ``control/epoch.py``) has its keys restored from the
database: a halt key lost that way is not a release.

Expiry and deletion look alike in Redis (the key is gone). The latch remembers the expiry time it
last saw on the key; a key that vanishes within a second of that time expired, one that vanishes
earlier was deleted. Any doubt resolves to "expired", which keeps trading halted; an expired key is
set again without expiry, so that the playbook's later DEL still releases the halt. A latch whose key
was never seen in the store (a halt written while the store was down, or one being written right
now) re-asserts the key instead: only a key that existed can be deleted.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

from smc_agent.control.clock import WallClock
from smc_agent.control.epoch import epoch_present, lost_since_recorded, record_epoch
from smc_agent.control.failover import FAILOVER_KEY, restore_failover_key
from smc_agent.core.clock import Clock
from smc_agent.core.control import ControlJournal, ControlStoreUnavailable, HaltLatch, KeyValueStore
from smc_agent.core.enums import TradingState
from smc_agent.logs import get_logger

HALT_KEY = "emergency_halt"
BREAKER_KEY = "smc:trading_state"
# set with a short TTL by every running order gateway (the execution engine's halt guard): one runs
# to enforce a halt, send orders and verify a resume
HEARTBEAT_KEY = "smc:engine:heartbeat"
TRADING_HEARTBEAT_KEY = "smc:trading:heartbeat"  # the trading engine's own: no order gateway
DATA_HEARTBEAT_KEY = "smc:data:heartbeat"  # the data pipeline's (every second, 5 s TTL)
_FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})
_EXPIRY_TOLERANCE_MS = 1_000
_KEYED = ("halted", "key_expired")  # latch states whose key is in the store: its DEL is a release
_OBSERVE_ATTEMPTS = 5
# Returned by a transition whose compare-and-set lost to a concurrent writer: observe again.
_STALE = HaltLatch(reason="stale read", actor="", source="", since_ms=-1)

log = get_logger("smc_agent.control")

ResumeCheck = Callable[[], str | None]
"""A resume verification: returns ``None`` when fine, otherwise why it failed."""


@dataclass(frozen=True, slots=True)
class ControlSnapshot:
    state: TradingState
    reason: str
    halt_key_present: bool
    latch: HaltLatch | None
    store: str
    store_ok: bool
    store_error: str | None = None

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


class TradingControl:
    def __init__(
        self,
        *,
        kv: KeyValueStore,
        journal: ControlJournal,
        clock: Clock | None = None,
        host: str | None = None,
    ) -> None:
        self.kv = kv
        self.journal = journal
        self.clock: Clock = clock or WallClock()
        self.host = host or socket.gethostname()

    # ----------------------------------------------------------------- reading
    def halt_key_present(self) -> bool:
        """The per-order check of the order gateway. Raises ControlStoreUnavailable (caller: fail closed)."""
        value = self.kv.get(HALT_KEY)
        return value is not None and value.strip().lower() not in _FALSE_VALUES

    def observe(self) -> ControlSnapshot:
        """Reconcile the control-store key with the durable latch and return the current state.

        Safe to call from any number of processes, as often as wanted (watchers call it ~5x/s): every
        transition is a compare-and-set on the latch, so a decision taken on a stale read is retried,
        never written over a concurrent halt or release.
        """
        for _ in range(_OBSERVE_ATTEMPTS):
            try:
                present = self.halt_key_present()
                ttl = self.kv.ttl(HALT_KEY) if present else None
                new_store = not epoch_present(self.kv)  # read after the key: see control/epoch.py
            except ControlStoreUnavailable as exc:
                return self._unreachable(str(exc))
            latch = self.journal.read_latch()
            now = self.clock.timestamp_ms()
            if new_store:
                try:
                    self._restore_store(latch, now)
                except ControlStoreUnavailable as exc:
                    return self._unreachable(str(exc))
                continue
            if present:
                latch = self._latch_from_key(latch, ttl, now)
            elif latch is not None and latch.status == "halted" and not latch.key_seen:
                self._reassert_key()
            elif latch is not None and latch.status in _KEYED:
                latch = self._key_vanished(latch, now)
            if latch is _STALE:
                continue
            if latch is not None:
                return ControlSnapshot(
                    TradingState.HALTED, self._latch_reason(latch), present, latch, self.kv.name, True
                )
            state, reason = self._breaker_state()
            return ControlSnapshot(state, reason, False, None, self.kv.name, True)
        latch = self.journal.read_latch()
        reason = "control state changing under concurrent writers; halted until it settles"
        return ControlSnapshot(TradingState.HALTED, reason, False, latch, self.kv.name, True)

    def _unreachable(self, error: str) -> ControlSnapshot:
        try:
            latch = self.journal.read_latch()
        except Exception:  # the database may be down too; we are halted either way
            latch = None
        reason = f"control store {self.kv.name} unreachable: trading halted (fail closed): {error}"
        return ControlSnapshot(TradingState.HALTED, reason, False, latch, self.kv.name, False, error)

    def _latch_from_key(self, latch: HaltLatch | None, ttl: float | None, now: int) -> HaltLatch:
        expires = None if ttl is None else now + int(ttl * 1000)
        if latch is None or latch.status not in _KEYED:
            new = HaltLatch(
                reason=f"{HALT_KEY} set on {self.kv.name}",
                actor=f"{self.kv.name}:{HALT_KEY}",
                source=self.kv.name,
                since_ms=now,
                key_expires_at_ms=expires,
                key_seen=True,
            )
            if not self.journal.swap_latch(latch, new):
                return _STALE
            self.journal.record_state_change(
                state=TradingState.HALTED.value,
                previous=None,
                reason=new.reason,
                actor=new.actor,
                source=new.source,
            )
            log.warning("emergency halt latched: trading halted", reason=new.reason, source=new.source)
            return new
        if not latch.key_seen or (
            expires is not None
            and (
                latch.key_expires_at_ms is None
                or abs(latch.key_expires_at_ms - expires) > _EXPIRY_TOLERANCE_MS
            )
        ):
            new = replace(latch, key_seen=True, key_expires_at_ms=expires or latch.key_expires_at_ms)
            return new if self.journal.swap_latch(latch, new) else _STALE
        return latch

    def _restore_store(self, latch: HaltLatch | None, now: int) -> None:
        """The store has no epoch marker: new, or it lost its data. In the second case its keys are
        put back from the database (a halt key lost with the store's data is not a release: only a
        DEL is), then the marker is recorded."""
        if lost_since_recorded(self.kv, self.journal):
            restored = []
            if latch is not None and latch.status in _KEYED:
                left_ms = None if latch.key_expires_at_ms is None else latch.key_expires_at_ms - now
                if left_ms is None or left_ms > _EXPIRY_TOLERANCE_MS:  # else: it expired meanwhile
                    self.kv.set(HALT_KEY, "true", ttl_s=None if left_ms is None else left_ms / 1000)
                    restored.append(HALT_KEY)
            breaker = self.journal.last_breaker_change()
            if breaker is not None and breaker["state"] != TradingState.ACTIVE.value:
                self.kv.set(BREAKER_KEY, json.dumps(breaker))
                restored.append(BREAKER_KEY)
            if restore_failover_key(self.kv, self.journal):
                restored.append(FAILOVER_KEY)
            log.error(
                f"ALERT control store {self.kv.name} lost its data (restarted without persistence, "
                "flushed or failed over to a replica without it): its keys restored from the database",
                restored=restored,
            )
        record_epoch(self.kv, self.journal)

    def _reassert_key(self) -> None:
        try:
            self.kv.set(HALT_KEY, "true")
        except ControlStoreUnavailable:
            return
        log.warning("halt key re-asserted from the database latch; trading stays halted")

    def _key_vanished(self, latch: HaltLatch, now: int) -> HaltLatch:
        # The key was read before the latch: a halt that set the key and then marked the latch key_seen
        # in between looks like a vanished key. Read the key again before calling it deleted or expired.
        try:
            if self.halt_key_present() or not epoch_present(self.kv):  # lost with the store's data
                return _STALE  # the next attempt restores it
        except ControlStoreUnavailable:
            return _STALE  # the next attempt reports the store as unreachable
        expired = (
            latch.key_expires_at_ms is not None and now >= latch.key_expires_at_ms - _EXPIRY_TOLERANCE_MS
        )
        if expired:
            # set again, without expiry: the playbook's DEL (its explicit release) still releases it
            try:
                self.kv.set(HALT_KEY, "true")
            except ControlStoreUnavailable:
                return _STALE  # the next attempt reports the store as unreachable
            new = replace(latch, status="key_expired", key_expires_at_ms=None)
        else:
            new = replace(
                latch,
                status="release_requested",
                release_actor=f"{self.kv.name}:DEL",
                release_reason=f"{HALT_KEY} deleted on {self.kv.name}",
            )
        if not self.journal.swap_latch(latch, new):
            return _STALE
        if expired:
            log.error(
                "ALERT emergency_halt key expired; trading stays halted (latched): the key is set again "
                "without expiry until an explicit release (DEL emergency_halt or smc-agent resume)",
                halted_since_ms=latch.since_ms,
            )
        else:
            log.warning("emergency halt release requested: verifying before resuming", by=new.release_actor)
        return new

    def _breaker_state(self) -> tuple[TradingState, str]:
        raw = self.kv.get(BREAKER_KEY)
        if not raw:
            return TradingState.ACTIVE, "trading active"
        data = json.loads(raw)
        return TradingState(data["state"]), str(data.get("reason", ""))

    @staticmethod
    def _latch_reason(latch: HaltLatch) -> str:
        suffix = {
            "halted": "",
            "key_expired": " (halt key expired and set again: release with DEL emergency_halt or smc-agent resume)",
            "release_requested": " (release requested: awaiting resume verification)",
            "release_failed": f" (resume verification failed: {latch.detail.get('failures', '')})",
        }[latch.status]
        return f"halted by {latch.actor}: {latch.reason}{suffix}"

    # ----------------------------------------------------------------- acting
    def halt(self, *, reason: str, actor: str, source: str) -> ControlSnapshot:
        """Set the key (no expiry) and the latch. Either one halts every engine: with the key store down,
        the latch alone; with the database down, the key alone (engines fail closed on it, and the first
        observer after the database is back latches it). Raises ControlStoreUnavailable only when
        neither could be written."""
        if not reason.strip():
            raise ValueError("a halt needs a reason")
        now = self.clock.timestamp_ms()
        latch = HaltLatch(reason=reason, actor=actor, source=source, since_ms=now)
        try:
            previous = self.journal.read_latch()
            self.journal.write_latch(latch)  # the latch first: halted even if the store is down
            self.journal.record_state_change(
                state=TradingState.HALTED.value,
                previous=None if previous is None else TradingState.HALTED.value,
                reason=reason,
                actor=actor,
                source=f"{source}@{self.host}",
            )
        except Exception as exc:  # the database: never a reason not to set the key
            unlatched: str | None = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        else:
            unlatched = None
        try:
            self.kv.set(HALT_KEY, "true")
        except ControlStoreUnavailable as exc:
            if unlatched is not None:
                raise ControlStoreUnavailable(
                    f"nothing halted: the database ({unlatched}) and the control store ({exc}) both failed"
                ) from exc
            log.error("halt latched in the database but the control store is unreachable", error=str(exc))
        else:
            if unlatched is None:
                self.journal.write_latch(replace(latch, key_seen=True))
        log.warning("trading halted", reason=reason, actor=actor, source=source)
        if unlatched is not None:
            log.error(
                f"ALERT halt set on {self.kv.name} but not latched in the database: {unlatched}",
                reason=reason,
            )
            why = f"{reason} ({HALT_KEY} set on {self.kv.name}; the database did not answer: {unlatched})"
            return ControlSnapshot(TradingState.HALTED, why, True, None, self.kv.name, True)
        return self.observe()

    def request_release(self, *, reason: str, actor: str, source: str) -> ControlSnapshot:
        """Delete the key and mark the latch: the engine verifies and resumes (or refuses)."""
        if not reason.strip():
            raise ValueError("a release needs a reason")
        self.kv.delete(HALT_KEY)
        if self._breaker_state()[0] is not TradingState.ACTIVE:  # a resume also releases a risk breaker
            self.set_breaker_state(TradingState.ACTIVE, reason=f"released: {reason}", actor=actor)
        for _ in range(_OBSERVE_ATTEMPTS):  # a watcher may mark the deleted key at the same moment
            latch = self.journal.read_latch()
            if latch is None:
                break
            marked = replace(latch, status="release_requested", release_actor=actor, release_reason=reason)
            if self.journal.swap_latch(latch, marked):
                break
        log.warning("trading release requested", reason=reason, actor=actor, source=source)
        return self.observe()

    def complete_release(self, checks: Sequence[tuple[str, ResumeCheck]], *, actor: str) -> ControlSnapshot:
        """Run the resume verification; clear the latch only if every check passes."""
        latch = self.journal.read_latch()
        if latch is None or latch.status != "release_requested":
            return self.observe()
        if self.halt_key_present():
            return self.observe()
        failures = []
        for name, check in checks:
            try:
                problem = check()
            except Exception as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            if problem:
                failures.append(f"{name}: {problem}")
        if failures:
            failed = replace(latch, status="release_failed", detail={"failures": "; ".join(failures)})
            if self.journal.swap_latch(latch, failed):
                log.error("resume verification failed; trading stays halted", failures=failures)
            return self.observe()
        if not self.journal.swap_latch(latch, None):  # halted again (or released) while verifying
            log.warning("control state changed during resume verification; not resuming")
            return self.observe()
        reason = latch.release_reason or "released"
        self.journal.record_state_change(
            state=TradingState.ACTIVE.value,
            previous=TradingState.HALTED.value,
            reason=reason,
            actor=latch.release_actor or actor,
            source=f"{actor}@{self.host}",
        )
        log.warning(
            "trading resumed after verification",
            released_by=latch.release_actor,
            checks=[n for n, _ in checks],
        )
        return self.observe()

    def set_breaker_state(self, state: TradingState, *, reason: str, actor: str) -> None:
        """Breakers and operators switch ACTIVE / REDUCING / HALTED (not the emergency latch)."""
        previous, _ = self._breaker_state()
        if state is TradingState.ACTIVE:
            self.kv.delete(BREAKER_KEY)
        else:
            self.kv.set(BREAKER_KEY, json.dumps({"state": state.value, "reason": reason, "actor": actor}))
        if previous is not state:
            self.journal.record_state_change(
                state=state.value, previous=previous.value, reason=reason, actor=actor, source="breaker"
            )
            log.warning("trading state changed", state=state.value, previous=previous.value, reason=reason)
