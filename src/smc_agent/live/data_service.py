"""The data-pipeline service: polls a venue for newly closed candles and publishes them, in order and
once each, to the candles stream (the trading engine consumes them).

On start it back-fills ``warmup`` closed candles so strategies have history. Of the candles one poll
publishes, all but the newest are marked history (a back-fill, a catch-up after an outage): the trading
engine feeds them to its strategies but refuses the entries they signal. So is every candle of a full
page (a catch-up after an outage longer than a page: more pages follow, the market has moved on).
Neither rule reads our clock against the venue's candle times: a venue (or a paper venue replaying
history) keeps its own time. A feed that brought no new candle for ``STALE_BARS`` bars of our own
(monotonic) time is stale: an alert, and the service is not ready until candles flow again. A poll
that fails, whatever the error (the venue, its answer, the stream store), is retried: the loop never
ends but by ``stopping``. The last published open time is kept in memory only: a restarted pipeline back-fills again, and the trading engine drops the
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
PAGE = 500  # candles asked for per poll after the back-fill
STALE_BARS = 3  # bars of our time with no new candle before the feed is called stale
STALE_MIN_S = 30.0  # and never less than this (a poll, the venue's own delay)
RETRY_MAX_S = 10.0


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
        monotonic: Callable[[], float] = time.monotonic,
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
        self.monotonic = monotonic
        self.last_new_at: float | None = None  # when (monotonic) the newest candle was published
        self.said_stale = False  # the stale feed's ALERT is out (said once, until candles flow again)
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
            limit = self.warmup if last is None else PAGE
            iid = InstrumentId(source.venue, sub.instrument_id.symbol)
            candles = await source.fetch_candles(iid, sub.timeframe, since_ms=since, limit=limit)
            fresh = [c for c in candles if last is None or c.open_time > last]
            # history: the back-fill on start (all but its newest), and what a catch-up brings from
            # further back than the live lag (an outage); a poll that finds two or three new 1m candles
            # because they closed faster than it ran is not late, its signals are live
            backfill = last is None
            newest = fresh[-1].open_time if fresh else 0
            lag_ms = min(LIVE_LAG_BARS * timeframe_ms(sub.timeframe), LIVE_LAG_MAX_MS)
            catching_up = not backfill and len(candles) >= limit  # a full page: more follow
            if not backfill and not catching_up and fresh:
                # a page the venue sent full may come back shorter (a malformed row refused): closed
                # candles after its newest mean it was not the last page either
                step = timeframe_ms(sub.timeframe)
                after = await source.fetch_candles(iid, sub.timeframe, since_ms=newest + step, limit=1)
                catching_up = bool(after)
            for i, candle in enumerate(fresh):
                late = catching_up or newest - candle.open_time > lag_ms
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
        self.last_new_at = self.monotonic()

    def stale(self) -> str | None:
        """Why the feed is stale (no new candle for ``STALE_BARS`` bars of our time), or None."""
        if self.last_new_at is None or not self.subscriptions:
            return None
        step_s = min(timeframe_ms(s.timeframe) for s in self.subscriptions) / 1000
        quiet = self.monotonic() - self.last_new_at
        if quiet <= max(STALE_BARS * step_s, STALE_MIN_S):
            return None
        return f"no new candle for {quiet:.0f} s ({STALE_BARS} bars or more)"

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
        if stale is not None and not self.said_stale:
            log.error("ALERT market data feed stale: no new candles", reason=stale, venue=self.source.venue)
        elif stale is None and self.said_stale:
            log.warning("market data feed fresh again", venue=self.source.venue)
        self.said_stale = stale is not None

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            try:
                await self.poll_once()
            except Exception as exc:  # the venue's now and then; anything else (the stream store): an ALERT
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                venue = isinstance(exc, (SmcAgentError, TimeoutError, OSError))
                say = log.warning if venue else log.error
                say(("" if venue else "ALERT ") + "market data poll failed; retrying", error=self.last_error)
            else:
                failures = 0
            self._watch_staleness()
            await asyncio.sleep(min(self.poll_s * (2 ** min(failures, 6)), max(self.poll_s, RETRY_MAX_S)))
