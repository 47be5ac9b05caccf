"""The data-pipeline service: polls a venue for newly closed candles and publishes them, in order and
once each, to the candles stream (the trading engine consumes them).

On start it back-fills ``warmup`` closed candles so strategies have history. Of the candles one poll
publishes, all but the newest are marked history (a back-fill, a catch-up after an outage): the trading
engine feeds them to its strategies but refuses the entries they signal. So is any candle that closed
longer ago than the live lag by the wall clock (the first pages of a catch-up after a long outage).
A feed whose newest candle is more than ``STALE_BARS`` bars old by the wall clock is stale: an alert,
and the service is not ready until candles flow again. A poll that fails, whatever the error (the
venue, its answer, the stream store), is retried: the loop never ends but by ``stopping``. The last published open
time is kept in memory only: a restarted pipeline back-fills again, and the trading engine drops the
candles it has already seen (``TradingService.on_candle``), so each strategy sees each candle once.

Venue failover: with a ``backup`` venue and ``active_venue`` (the failover manager's, read from the
control store on every poll), candles come from whichever venue is active. The series goes on where
it stopped: a candle whose open time was already published (from either venue) is never published
again. Candles name the venue they came from; the trading engine maps them to its instrument.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.errors import SmcAgentError
from smc_agent.core.ids import InstrumentId
from smc_agent.core.ports import VenuePort
from smc_agent.live.codec import encode_candle
from smc_agent.live.streams import CANDLES_STREAM, StreamBus
from smc_agent.logs import get_logger

log = get_logger("smc_agent.live.data")


@dataclass(frozen=True, slots=True)
class Subscription:
    instrument_id: InstrumentId
    timeframe: str


# a candle up to this far before the newest of its poll is still live (it closed while the poll ran:
# a replay at speed, a slow poll); older is history. At most LIVE_LAG_BARS bars and never more than
# LIVE_LAG_MAX_MS: on 1d candles a catch-up's day-old candle is history
LIVE_LAG_BARS = 2
LIVE_LAG_MAX_MS = 5 * 60_000
STALE_BARS = 2  # bars past the expected close of the next candle before the feed is called stale
STALE_MIN_MS = 30_000  # and never less than this (a poll, the venue's own delay)
RETRY_MAX_S = 10.0


def wall_ms() -> int:
    return int(time.time() * 1000)


class DataService:
    def __init__(
        self,
        *,
        bus: StreamBus,
        venue: VenuePort,
        subscriptions: Sequence[Subscription],
        poll_s: float = 1.0,
        warmup: int = 300,
        backup: VenuePort | None = None,
        active_venue: Callable[[], str] | None = None,
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.bus = bus
        self.venue = venue
        self.backup = backup
        self.active_venue = active_venue
        self.source = venue  # the venue candles currently come from
        self.subscriptions = list(subscriptions)
        self.poll_s = poll_s
        self.warmup = max(1, warmup)
        self.last_open: dict[Subscription, int] = {}
        self.published = 0
        self.last_candle_ms: int | None = None  # close time of the newest candle published
        self.stopping = False
        self.now_ms = now_ms
        self.stale_since: int | None = None  # wall time the feed was found stale, None while fresh
        self.last_error: str | None = None

    def _follow_failover(self) -> VenuePort:
        """The venue to read from now; a control store that does not answer keeps the current one."""
        if self.backup is None or self.active_venue is None:
            return self.venue
        try:
            active = self.active_venue()
        except Exception as exc:
            log.warning("active venue unknown; keeping the market data source", error=str(exc))
            return self.source
        wanted = self.backup if active == self.backup.venue else self.venue
        if wanted is not self.source:
            log.warning(
                f"failover: market data switched {self.source.venue} -> {wanted.venue}",
                previous_venue=self.source.venue,
                active_venue=wanted.venue,
            )
            self.source = wanted
        return wanted

    async def poll_once(self) -> int:
        count = 0
        source = self._follow_failover()
        for sub in self.subscriptions:
            last = self.last_open.get(sub)
            since = None if last is None else last + timeframe_ms(sub.timeframe)
            limit = self.warmup if last is None else 500
            candles = await source.fetch_candles(
                InstrumentId(source.venue, sub.instrument_id.symbol),
                sub.timeframe,
                since_ms=since,
                limit=limit,
            )
            fresh = [c for c in candles if last is None or c.open_time > last]
            # history: the back-fill on start (all but its newest), and what a catch-up brings from
            # further back than the live lag (an outage); a poll that finds two or three new 1m candles
            # because they closed faster than it ran is not late, its signals are live
            backfill = last is None
            newest = fresh[-1].open_time if fresh else 0
            lag_ms = min(LIVE_LAG_BARS * timeframe_ms(sub.timeframe), LIVE_LAG_MAX_MS)
            now = self.now_ms()
            for i, candle in enumerate(fresh):
                # late: behind the newest of its poll, or closed long ago by the clock (a catch-up's
                # first pages; the engine's clock is the candles' own, so only here is it seen)
                late = newest - candle.open_time > lag_ms or now - candle.close_time > lag_ms
                await self.publish(candle, history=(backfill and i < len(fresh) - 1) or late)
                last = candle.open_time
                count += 1
            if last is not None:
                self.last_open[sub] = last
        return count

    async def publish(self, candle: Candle, *, history: bool = False) -> None:
        await self.bus.publish(CANDLES_STREAM, encode_candle(candle, history=history))
        self.published += 1
        self.last_candle_ms = candle.close_time

    def stale(self) -> str | None:
        """Why the feed is stale (its newest candle too old by the wall clock), or None."""
        if self.last_candle_ms is None or not self.subscriptions:
            return None
        step = min(timeframe_ms(s.timeframe) for s in self.subscriptions)
        since = self.now_ms() - self.last_candle_ms
        if since - step <= max(STALE_BARS * step, STALE_MIN_MS):  # past the next candle's close
            return None
        return f"the newest candle closed {since // 1000} s ago ({STALE_BARS} bars overdue)"

    def ready(self) -> tuple[bool, dict[str, Any]]:
        stale = self.stale()
        detail = {
            "published": self.published,
            "venue": self.source.venue,
            "stale": stale,
            "last_error": self.last_error,
        }
        return self.published > 0 and stale is None and not self.stopping, detail

    def _watch_staleness(self) -> None:
        stale = self.stale()
        if stale is not None and self.stale_since is None:
            self.stale_since = self.now_ms()
            log.error("ALERT market data feed stale: no new candles", reason=stale, venue=self.source.venue)
        elif stale is None and self.stale_since is not None:
            self.stale_since = None
            log.warning("market data feed fresh again", venue=self.source.venue)

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            try:
                await self.poll_once()
            except (SmcAgentError, TimeoutError, OSError) as exc:  # the venue: expected now and then
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("market data poll failed; retrying", error=str(exc))
            except Exception as exc:  # anything else (the stream store down, a bad answer): go on
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("ALERT market data poll failed; retrying", error=self.last_error)
            else:
                failures = 0
            self._watch_staleness()
            await asyncio.sleep(min(self.poll_s * (2 ** min(failures, 6)), max(self.poll_s, RETRY_MAX_S)))
