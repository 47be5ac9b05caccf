"""Ports of the control plane: what it needs from the world, as Protocols.

Implemented by ``control.redis_kv`` (Redis) and by ``store.control_repo`` (the database); the
control plane never imports the store: bootstrap injects a :class:`ControlJournal` built on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from smc_agent.core.errors import RetryableError


class ControlStoreUnavailable(RetryableError):
    """The control store (Redis or the embedded table) did not answer: trading must be treated as halted."""


class KeyValueStore(Protocol):
    """The minimal key/value surface the playbook's raw Redis commands act on (db 0)."""

    name: str

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None: ...

    def add(self, key: str, value: str) -> bool:
        """Set ``key`` only if it does not exist (atomic); whether it was set."""
        ...

    def delete(self, key: str) -> bool: ...

    def ttl(self, key: str) -> float | None:
        """Seconds to live; ``None`` when the key has no expiry or does not exist."""
        ...

    def ping(self) -> float:
        """Round trip in seconds; raises :class:`ControlStoreUnavailable`."""
        ...


@dataclass(frozen=True, slots=True)
class HaltLatch:
    """The durable record of a halt: it outlives the Redis key (expiry never resumes trading)."""

    reason: str
    actor: str
    source: str
    since_ms: int
    status: str = "halted"  # halted | key_expired | release_requested | release_failed
    key_expires_at_ms: int | None = None
    # True once the halt key was seen (or written) in the control store for this latch. Only then does
    # a vanished key mean "deleted" or "expired"; before that the key is simply re-asserted.
    key_seen: bool = False
    release_actor: str | None = None
    release_reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class ControlJournal(Protocol):
    """Durable side of the control plane (the database): halt latch and audit records."""

    def read_latch(self) -> HaltLatch | None: ...

    def write_latch(self, latch: HaltLatch | None) -> None: ...

    def swap_latch(self, expected: HaltLatch | None, new: HaltLatch | None) -> bool:
        """Write ``new`` only if the stored latch still equals ``expected`` (atomic compare-and-set)."""
        ...

    def record_state_change(
        self, *, state: str, previous: str | None, reason: str, actor: str, source: str
    ) -> None: ...

    def record_failover(
        self, *, action: str, from_venue: str | None, to_venue: str, reason: str, actor: str, source: str
    ) -> None: ...

    def stranded_positions(self, active_venue: str) -> list[dict[str, Any]]: ...

    def read_store_epoch(self) -> str | None:
        """The control store's epoch marker as last recorded (None: never recorded)."""
        ...

    def write_store_epoch(self, epoch: str) -> None: ...

    def last_breaker_change(self) -> dict[str, str] | None:
        """The newest breaker state change (state, reason, actor), if any."""
        ...

    def last_failover(self) -> dict[str, Any] | None:
        """The newest failover event (action, from, to, reason, actor, since_ms), if any."""
        ...

    def ping(self) -> float: ...
