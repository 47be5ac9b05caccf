"""A live candle stream that hands out only closed candles, in order, without gaps or duplicates.

The stream polls whichever source ``select_source()`` names at that moment (the active venue, so a
failover switches it between two polls) and always asks for the candles after the last one it handed
out. After a disconnect, a ban or a venue switch, the first answer therefore backfills everything
missed, page by page. Candles at or before the last one handed out are dropped (no duplicates); a
hole the venue cannot fill is reported in :attr:`gaps` and the stream continues after it.
Staleness: no new candle for ``stale_after_s`` seconds of wall time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.errors import BannedError, RetryableError, SmcAgentError
from smc_agent.core.ids import InstrumentId
from smc_agent.logs import get_logger

log = get_logger("smc_agent.marketdata.stream")


class CandleSource(Protocol):
    @property
    def venue(self) -> str: ...

    async def fetch_candles(
        self,
        instrument_id: InstrumentId,
        timeframe: str,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Candle]: ...


class WatchingSource(CandleSource, Protocol):
    async def watch_candles(self, instrument_id: InstrumentId, timeframe: str) -> Sequence[Candle]: ...


class LiveCandleStream:
    def __init__(
        self,
        select_source: Callable[[], CandleSource],
        symbol: str,
        timeframe: str,
        *,
        start_after_ms: int | None = None,
        poll_interval_s: float = 1.0,
        stale_after_s: float | None = None,
        page_limit: int = 500,
        use_websocket: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.select_source = select_source
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = timeframe_ms(timeframe)
        self.last_open_time = start_after_ms
        self.poll_interval_s = poll_interval_s
        self.stale_after_s = stale_after_s if stale_after_s is not None else 2 * self.tf_ms / 1000
        self.page_limit = page_limit
        self.use_websocket = use_websocket
        self._ws_newest: int | None = None
        self.ws_wakeups = 0
        self._monotonic = monotonic
        self.last_new_at = monotonic()
        self.venue: str | None = None
        self.switches = 0
        self.errors = 0
        self.gaps: list[tuple[int, int]] = []  # (first missing open time, missing count)
        self.last_error: str | None = None

    @property
    def stale(self) -> bool:
        return self._monotonic() - self.last_new_at > self.stale_after_s

    def status(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "venue": self.venue,
            "last_open_time": self.last_open_time,
            "stale": self.stale,
            "seconds_since_new_candle": round(self._monotonic() - self.last_new_at, 3),
            "switches": self.switches,
            "errors": self.errors,
            "gaps": len(self.gaps),
            "last_error": self.last_error,
        }

    async def poll_once(self) -> list[Candle]:
        """One request to the active source; returns the new closed candles (possibly none)."""
        source = self.select_source()
        if source.venue != self.venue:
            if self.venue is not None:
                self.switches += 1
                log.warning(
                    f"candle stream failover: {self.venue} -> {source.venue}",
                    symbol=self.symbol,
                    timeframe=self.timeframe,
                    resume_after=self.last_open_time,
                )
            self.venue = source.venue
        since = None if self.last_open_time is None else self.last_open_time + self.tf_ms
        page = await source.fetch_candles(
            InstrumentId(source.venue, self.symbol), self.timeframe, since_ms=since, limit=self.page_limit
        )
        fresh: list[Candle] = []
        for candle in sorted(page, key=lambda c: c.open_time):
            last = self.last_open_time
            if last is not None and candle.open_time <= last:
                continue  # already handed out
            if last is not None and candle.open_time > last + self.tf_ms:
                missing = (candle.open_time - last) // self.tf_ms - 1
                self.gaps.append((last + self.tf_ms, missing))
                log.warning("candle stream gap the venue cannot fill", venue=source.venue, missing=missing)
            fresh.append(candle)
            self.last_open_time = candle.open_time
        if fresh:
            self.last_new_at = self._monotonic()
        return fresh

    async def candles(self) -> AsyncIterator[Candle]:
        """Closed candles forever; transient venue errors are retried after ``poll_interval_s``."""
        while True:
            try:
                fresh = await self.poll_once()
            except (RetryableError, BannedError) as exc:
                self.errors += 1
                self.last_error = str(exc)
                await asyncio.sleep(self.poll_interval_s)
                continue
            except SmcAgentError as exc:
                self.errors += 1
                self.last_error = str(exc)
                log.error("candle stream request refused", error=str(exc))
                await asyncio.sleep(self.poll_interval_s)
                continue
            for candle in fresh:
                yield candle
            if len(fresh) < self.page_limit:  # caught up: wait for the next candle to close
                await self._wait_for_news()

    async def _wait_for_news(self) -> None:
        """Sleep until the WebSocket shows a new candle (if enabled), at most ``poll_interval_s``.

        Any WebSocket trouble falls back to plain REST polling on the interval."""
        source = self.select_source()
        if not self.use_websocket or not getattr(source, "can_watch", False):
            await asyncio.sleep(self.poll_interval_s)
            return
        watching: WatchingSource = source  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.poll_interval_s
        iid = InstrumentId(source.venue, self.symbol)
        while (remaining := deadline - loop.time()) > 0:
            try:
                rows = await asyncio.wait_for(watching.watch_candles(iid, self.timeframe), remaining)
            except (TimeoutError, SmcAgentError):
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                return
            newest = max((c.open_time for c in rows), default=None)
            if newest is not None and (self._ws_newest is None or newest > self._ws_newest):
                self._ws_newest = newest  # a candle started or closed: time to ask REST for closed ones
                self.ws_wakeups += 1
                return
