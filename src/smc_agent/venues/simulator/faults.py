"""Fault injection state of the exchange simulator (driven through the admin endpoint)."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class Faults:
    """What the simulator does wrong on purpose. All counters count API requests, not admin ones.

    - ``slow_ms``: every API response is delayed.
    - ``errors_5xx``: the next N requests answer HTTP 503 (``-1`` = until cleared).
    - ``rate_limit_429`` / ``ban_seconds``: the next N requests answer 429 with ``Retry-After``;
      the request after them answers 418 and bans the client for ``ban_seconds``.
    - ``stale``: the market clock is frozen (no new candles).
    - ``reject_orders``: every new order is rejected with the venue's rejection code.
    - ``lost_acks``: the next N orders are placed but their response never arrives.
    """

    slow_ms: int = 0
    errors_5xx: int = 0
    rate_limit_429: int = 0
    retry_after_s: int = 1
    ban_seconds: float = 0.0
    banned_until: float = 0.0
    stale: bool = False
    reject_orders: bool = False
    lost_acks: int = 0
    lost_ack_hang_s: float = 30.0

    def ban_remaining(self) -> float:
        return max(0.0, self.banned_until - time.monotonic())

    def clear(self) -> None:
        fresh = Faults()
        for name in Faults.__slots__:
            setattr(self, name, getattr(fresh, name))


@dataclass(slots=True)
class Verdict:
    """What the fault middleware decided for one request."""

    status: int  # 0 = serve normally
    kind: str = ""
    retry_after: int = 0


def judge(faults: Faults) -> Verdict:
    """Decide whether an API request is served or refused by an injected fault."""
    remaining = faults.ban_remaining()
    if remaining > 0:
        return Verdict(418, "banned", int(remaining) + 1)
    if faults.rate_limit_429 > 0:
        faults.rate_limit_429 -= 1
        return Verdict(429, "rate_limited", faults.retry_after_s)
    if faults.ban_seconds > 0:
        faults.banned_until = time.monotonic() + faults.ban_seconds
        faults.ban_seconds = 0.0
        return Verdict(418, "banned", int(faults.ban_remaining()) + 1)
    if faults.errors_5xx != 0:
        if faults.errors_5xx > 0:
            faults.errors_5xx -= 1
        return Verdict(503, "unavailable")
    return Verdict(0)
