"""Whether the control store lost its data: a Redis restarted without persistence, a ``FLUSHDB`` /
``FLUSHALL`` on database 0, a failover to a replica that never got the keys, an eviction.

The store holds an epoch marker (a random value) that nothing ever deletes; the database remembers
the value it last saw. A marker that is gone while the database remembers one means every key of the
store went with it: the halt key, the breaker state and the failover state must then be restored from
the database, never read as "deleted" (a deleted ``emergency_halt`` is an operator's release).
"""

from __future__ import annotations

import uuid

from smc_agent.core.control import ControlJournal, KeyValueStore

EPOCH_KEY = "smc:control:epoch"


def epoch_present(kv: KeyValueStore) -> bool:
    """Whether the store still holds its epoch marker. Raises ControlStoreUnavailable."""
    return kv.get(EPOCH_KEY) is not None


def lost_since_recorded(kv: KeyValueStore, journal: ControlJournal) -> bool:
    """True when the store's marker is gone but the database remembers one: the store lost its data.
    The caller restores the store's keys from the database, then calls :func:`record_epoch`."""
    return not epoch_present(kv) and journal.read_store_epoch() is not None


def record_epoch(kv: KeyValueStore, journal: ControlJournal) -> None:
    """Create the store's marker if it is missing (one value whoever creates it) and record it in the
    database."""
    if kv.get(EPOCH_KEY) is None:
        kv.add(EPOCH_KEY, uuid.uuid4().hex)
    epoch = kv.get(EPOCH_KEY)
    if epoch is not None and journal.read_store_epoch() != epoch:
        journal.write_store_epoch(epoch)
