"""Back-off and ban state of one venue, shared by every call a gateway makes.

ccxt's own limiter spaces requests; this adds what ccxt does not do: wait out a ``Retry-After`` after
a 429 and, after a 418 ban, refuse to send anything to the venue until the ban lifts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from smc_agent.core.errors import BannedError


class VenueThrottle:
    def __init__(self, venue: str, *, wall_ms: Callable[[], int] | None = None) -> None:
        self.venue = venue
        self._wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        self.backoff_until_ms = 0
        self.banned_until_ms = 0

    def check_ban(self) -> None:
        """Raise ``BannedError`` (sending nothing) while a ban is in force."""
        now = self._wall_ms()
        if now < self.banned_until_ms:
            raise BannedError(
                f"{self.venue}: banned for another {(self.banned_until_ms - now) / 1000:.1f}s; nothing sent",
                until=self.banned_until_ms,
            )

    async def wait_backoff(self) -> None:
        delay = (self.backoff_until_ms - self._wall_ms()) / 1000
        if delay > 0:
            await asyncio.sleep(delay)

    def on_rate_limited(self, retry_after_s: float | None) -> float:
        delay = retry_after_s if retry_after_s is not None else 1.0
        self.backoff_until_ms = max(self.backoff_until_ms, self._wall_ms() + int(delay * 1000))
        return delay

    def on_banned(self, until_ms: int | None) -> None:
        self.banned_until_ms = max(self.banned_until_ms, until_ms or self._wall_ms() + 120_000)

    @property
    def banned(self) -> bool:
        return self._wall_ms() < self.banned_until_ms
