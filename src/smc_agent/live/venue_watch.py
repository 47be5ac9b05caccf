"""The trading engine's view of the active venue: it logs a venue failover (and the way back) the
moment it sees one, so ``kubectl logs deployment/trading-engine | grep -i failover`` shows it.

The trading engine routes nothing itself (the execution engine and the data pipeline follow the
failover manager); this is what its operators read."""

from __future__ import annotations

import time
from collections.abc import Callable

from smc_agent.logs import get_logger

log = get_logger("smc_agent.live.trading")


class VenueWatch:
    def __init__(self, read: Callable[[], str], *, home: str | None, every_s: float = 1.0) -> None:
        self._read = read
        self.home = home  # the venue of the engine's instruments (the primary)
        self.active: str | None = None
        self.every_s = every_s
        self._next = 0.0  # monotonic: not read again before

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.every_s
        return True

    def poll(self) -> str | None:
        """Read the active venue; log a change (and, at the first read, a failover already on). A
        store that does not answer keeps the last known venue (the guard loop says it)."""
        venue = self._read()
        previous, self.active = self.active, venue
        if venue == previous or (previous is None and venue == self.home):
            return venue
        was = previous or self.home
        if venue == self.home:
            log.warning(
                f"failover ended: trading engine back on {venue} (was {was})",
                from_venue=was,
                active_venue=venue,
            )
        else:
            log.warning(
                f"failover: trading engine follows {was} -> {venue}", from_venue=was, active_venue=venue
            )
        return venue
