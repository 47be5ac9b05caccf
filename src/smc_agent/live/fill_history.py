"""All of a venue's fills of one instrument over a time range, within what one request may ask.

A venue answers a trade-history request for a bounded time range (Binance spot: 24 hours, Bybit:
7 days) with at most one page of fills (1000, 100), oldest first on one, newest first on the other.
Asking "since T" once, or paging on from the newest fill seen, misses fills on both: the first sees
nothing past its range, the second skips what a newest-first page held back. The range is walked in
windows the venue accepts; a full page cannot say what it held back, so its window is halved until
every window answers with less than a full page. Order within a page never matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from smc_agent.core.fill import Fill
from smc_agent.core.ids import InstrumentId
from smc_agent.core.ports import VenuePort


async def fills_between(
    venue: VenuePort,
    instrument_id: InstrumentId,
    *,
    since_ms: int,
    until_ms: int,
    max_requests: int,
    timeout_s: float,
) -> list[Fill] | None:
    """Every fill of ``instrument_id`` at ``venue`` from ``since_ms`` to ``until_ms`` (inclusive), each
    once, oldest first; ``None`` when ``max_requests`` requests did not cover the range (more fills
    than that many pages, or more in one millisecond than a page holds). Venue errors propagate; a
    request that takes longer than ``timeout_s`` raises ``TimeoutError``."""
    limits = venue.history_limits
    window = max(1, limits.window_ms)
    # the windows still to ask, the oldest on top
    todo = [(a, min(a + window - 1, until_ms)) for a in range(since_ms, until_ms + 1, window)][::-1]
    seen: dict[str, Fill] = {}
    requests = 0
    while todo:
        if requests == max_requests:
            return None
        start, end = todo.pop()
        page: Sequence[Fill] = await asyncio.wait_for(
            venue.fetch_fills(instrument_id, since_ms=start, until_ms=end, limit=limits.page), timeout_s
        )
        requests += 1
        if len(page) >= limits.page:
            if start == end:
                return None
            middle = (start + end) // 2
            todo += [(middle + 1, end), (start, middle)]
            continue
        for fill in page:
            if start <= fill.ts_event <= end:  # a venue that ignores the range: each fill in one window
                seen.setdefault(_key(fill), fill)
    return sorted(seen.values(), key=lambda f: (f.ts_event, _key(f)))


def _key(fill: Fill) -> str:
    return f"{fill.trade_id}:{fill.venue_order_id}"
