"""Public traffic switch: containment for a security breach (the playbook empties the ingress and scales
the public services to zero; locally the public listeners close while the admin listener stays open).

The switch is one key in the control store, so every API process sees it; each process closes or reopens
its own public listener (``smc_agent.api.listeners``). If the store is unreachable a process keeps its
listeners as they are rather than flapping.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from smc_agent.core.control import KeyValueStore

PUBLIC_TRAFFIC_KEY = "smc:public_traffic"


@dataclass(frozen=True)
class TrafficBlock:
    reason: str
    actor: str
    source: str
    since_ms: int


class PublicTraffic:
    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    def block(self, *, reason: str, actor: str, source: str, now_ms: int) -> TrafficBlock:
        if not reason.strip():
            raise ValueError("blocking public traffic needs a reason")
        block = TrafficBlock(reason=reason, actor=actor, source=source, since_ms=now_ms)
        self.kv.set(PUBLIC_TRAFFIC_KEY, json.dumps(asdict(block)))
        return block

    def unblock(self) -> bool:
        """True if a block was lifted."""
        return self.kv.delete(PUBLIC_TRAFFIC_KEY)

    def current(self) -> TrafficBlock | None:
        """The block in force, if any. Raises ControlStoreUnavailable (callers keep their last state)."""
        raw = self.kv.get(PUBLIC_TRAFFIC_KEY)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return TrafficBlock(
                reason=str(data["reason"]),
                actor=str(data["actor"]),
                source=str(data["source"]),
                since_ms=int(data["since_ms"]),
            )
        except (ValueError, KeyError, TypeError):  # set by hand (e.g. redis-cli SET smc:public_traffic 1)
            return TrafficBlock(
                reason=f"{PUBLIC_TRAFFIC_KEY} set to {raw!r}", actor="unknown", source="", since_ms=0
            )
