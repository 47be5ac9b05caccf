"""The data-pipeline service: polls a venue for newly closed candles and publishes them, in order and
once each, to the candles stream (the trading engine consumes them).

Its feeds (symbol and timeframe) are those it was given and, with ``wanted``, those of every bot that
runs on its venue, read again every ``refresh_s``: a bot trades its one symbol on its one timeframe.
Each feed is polled, retried with back-off and judged stale on its own: a symbol the venue keeps
refusing does not hold the others back, nor does a flowing feed hide a frozen one.

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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.errors import SmcAgentError
from smc_agent.core.ids import InstrumentId
from smc_agent.core.ports import VenuePort
from smc_agent.live.codec import encode_candle
from smc_agent.live.streams import CANDLES_STREAM, StreamBus
from smc_agent.logs import get_logger
from smc_agent.marketdata.store import CandleStore
from smc_agent.store.trading_repo import TradingRepo

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
UNSTORED_MAX = 50_000  # candles kept for the store while the database does not answer


@dataclass(slots=True)
class _Feed:
    """What the service keeps of one subscription."""

    since: float  # monotonic: when it was subscribed, then when its newest candle was published
    last_open: int | None = None  # open time of the newest candle published
    failures: int = 0  # polls in a row that failed
    retry_at: float = 0.0  # monotonic: not polled again before


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
        wanted: Callable[[], Collection[Subscription]] | None = None,
        refresh_s: float = 15.0,
        heartbeat: Callable[[], object] | None = None,
        store: CandleStore | None = None,
    ) -> None:
        self.bus = bus
        self.store = store  # the candles published are kept there too (charts, backtests)
        self.store_error: str | None = None
        self._unstored: list[Candle] = []
        self.venue = venue
        self.backup = backup
        self.active_venue = active_venue
        self.source = venue  # the venue candles currently come from
        self.fixed = tuple(dict.fromkeys(subscriptions))
        self.subscriptions = list(self.fixed)
        # the feeds the bots need (their symbol and first timeframe), read every ``refresh_s``
        self.wanted = wanted
        self.refresh_s = refresh_s
        self._refreshed_at: float | None = None
        self._reading: asyncio.Future[Collection[Subscription]] | None = None
        self.poll_s = poll_s
        self.warmup = max(1, warmup)
        self.feeds: dict[Subscription, _Feed] = {}
        self.published = 0
        self.last_candle_ms: int | None = None  # close time of the newest candle published
        self.stopping = False
        self.monotonic = monotonic
        self.said_stale: frozenset[Subscription] = frozenset()  # the stale feeds whose ALERT is out
        self.last_error: str | None = None
        # called every ``heartbeat_s`` while ``run`` runs (the CLI sets the control store's
        # DATA_HEARTBEAT_KEY with a TTL): /v1/status tells a live pipeline from a dead one
        self.heartbeat = heartbeat
        self.heartbeat_s = 1.0

    async def _refresh(self) -> None:
        """Follow the bots: subscribe to the feeds they need, drop those no bot needs any more (a feed
        given at start stays). The first read is waited for; later ones run beside the polls and are
        taken up by the poll after they end (a database that hangs holds no candle back). A store
        that does not answer keeps the current feeds."""
        if self.wanted is None:
            return
        now = self.monotonic()
        reading = self._reading
        if reading is None and (self._refreshed_at is None or now - self._refreshed_at >= self.refresh_s):
            self._refreshed_at = now
            reading = self._reading = asyncio.ensure_future(asyncio.to_thread(self.wanted))
            if not self.feeds:  # the first (5 s at most): the back-fill of every feed in one poll
                await asyncio.wait([reading], timeout=5.0)
        if reading is None or not reading.done():
            return
        self._reading = None
        try:
            bots = reading.result()
        except Exception as exc:
            log.warning("the bots' feeds unknown; keeping the current ones", error=str(exc))
            return
        wanted = [*self.fixed, *sorted(set(bots) - set(self.fixed), key=str)]
        added = [s for s in wanted if s not in self.subscriptions]
        dropped = [s for s in self.subscriptions if s not in wanted]
        for sub in dropped:
            self.feeds.pop(sub, None)
        if added or dropped:
            log.info(
                "market data subscriptions changed",
                added=[f"{s.instrument_id.symbol} {s.timeframe}" for s in added],
                dropped=[f"{s.instrument_id.symbol} {s.timeframe}" for s in dropped],
            )
        self.subscriptions = wanted

    def _feed(self, sub: Subscription) -> _Feed:
        feed = self.feeds.get(sub)
        if feed is None:
            feed = self.feeds[sub] = _Feed(since=self.monotonic())
        return feed

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
        """Poll every feed that is due; how many candles were published. A feed that fails is said
        and retried with back-off on its own: the others go on (one bad symbol starved them all)."""
        await self._refresh()
        source = self._follow_failover()
        count = 0
        for sub in self.subscriptions:
            feed = self._feed(sub)
            if feed.retry_at > self.monotonic():
                continue
            try:
                count += await self._poll(source, sub, feed)
            except Exception as exc:  # the venue's now and then; anything else (the stream store): an ALERT
                feed.failures += 1
                feed.retry_at = self.monotonic() + min(
                    self.poll_s * (2 ** min(feed.failures, 6)), max(self.poll_s, RETRY_MAX_S)
                )
                self.last_error = f"{sub.instrument_id.symbol} {sub.timeframe}: {type(exc).__name__}: {exc}"
                venue = isinstance(exc, (SmcAgentError, TimeoutError, OSError))
                say = log.warning if venue else log.error
                say(("" if venue else "ALERT ") + "market data poll failed; retrying", error=self.last_error)
            else:
                feed.failures = 0
                feed.retry_at = 0.0
        return count

    async def _poll(self, source: VenuePort, sub: Subscription, feed: _Feed) -> int:
        count = 0
        last = feed.last_open
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
            feed.last_open = candle.open_time
            feed.since = self.monotonic()
            count += 1
        if fresh and self.store is not None:
            await self._keep(fresh)
        return count

    async def _keep(self, candles: Sequence[Candle]) -> None:
        """Store the candles published, after publishing them: a database that is slow or down holds
        no candle back from the engines. What it did not take is stored with the next ones (at most
        ``UNSTORED_MAX``, the newest); the outage is said once."""
        assert self.store is not None
        pending = [*self._unstored, *candles][-UNSTORED_MAX:]
        try:
            await asyncio.wait_for(asyncio.to_thread(self.store.put, pending, source="data-pipeline"), 5.0)
        except Exception as exc:
            if self.store_error is None:
                log.warning("candles published but not stored; kept for the next write", error=str(exc))
            self.store_error = f"{type(exc).__name__}: {exc}"
            self._unstored = pending
        else:
            if self.store_error is not None:
                log.info("candles stored again", caught_up=len(pending))
            self.store_error, self._unstored = None, []

    async def publish(self, candle: Candle, *, history: bool = False) -> None:
        await self.bus.publish(CANDLES_STREAM, encode_candle(candle, history=history))
        self.published += 1
        self.last_candle_ms = candle.close_time

    def _stale(self) -> dict[Subscription, float]:
        """The feeds with no new candle for ``STALE_BARS`` bars of our time (since subscribed when
        none came yet), with the seconds since."""
        now = self.monotonic()
        out: dict[Subscription, float] = {}
        for sub in self.subscriptions:
            feed = self.feeds.get(sub)
            if feed is None:
                continue
            quiet = now - feed.since
            if quiet > max(STALE_BARS * timeframe_ms(sub.timeframe) / 1000, STALE_MIN_S):
                out[sub] = quiet
        return out

    def stale(self) -> str | None:
        """Why the feed is stale (a subscription with no new candle for ``STALE_BARS`` bars of our
        time), or None."""
        return _stale_reason(self._stale())

    def ready(self) -> tuple[bool, dict[str, Any]]:
        stale = self.stale()
        detail = {
            "published": self.published,
            "venue": self.source.venue,
            "subscriptions": [f"{s.instrument_id.symbol} {s.timeframe}" for s in self.subscriptions],
            "stale": stale,
            "last_error": self.last_error,
        }
        return self.published > 0 and stale is None and not self.stopping, detail

    def _watch_staleness(self) -> None:
        quiet = self._stale()
        stale = frozenset(quiet)
        for sub in stale - self.said_stale:
            log.error(
                "ALERT market data feed stale: no new candles",
                reason=_stale_reason({sub: quiet[sub]}),
                venue=self.source.venue,
                symbol=sub.instrument_id.symbol,
                timeframe=sub.timeframe,
            )
        for sub in self.said_stale - stale:
            log.warning(
                "market data feed fresh again"
                if sub in self.feeds
                else "stale market data feed dropped: no bot needs it",
                venue=self.source.venue,
                symbol=sub.instrument_id.symbol,
                timeframe=sub.timeframe,
            )
        self.said_stale = stale

    async def run(self) -> None:
        beat = None if self.heartbeat is None else asyncio.ensure_future(self._beat())
        try:
            while not self.stopping:
                try:
                    await self.poll_once()
                except Exception as exc:  # poll_once keeps each feed's errors: nothing should come here
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.error("ALERT market data poll failed; retrying", error=self.last_error)
                self._watch_staleness()
                await asyncio.sleep(self.poll_s)
        finally:
            if beat is not None:
                beat.cancel()

    async def _beat(self) -> None:
        """The heartbeat, beside the polls (a poll waiting on a slow venue is not a dead pipeline)."""
        assert self.heartbeat is not None
        while not self.stopping:
            try:
                await asyncio.to_thread(self.heartbeat)
            except Exception as exc:  # the control store restarting: the status says it meanwhile
                log.warning("data pipeline heartbeat not written", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.heartbeat_s)


def _stale_reason(stale: dict[Subscription, float]) -> str | None:
    if not stale:
        return None
    return "; ".join(
        f"{sub.instrument_id.symbol} {sub.timeframe}: no new candle for {quiet:.0f} s ({STALE_BARS} bars or more)"
        for sub, quiet in stale.items()
    )


def bot_feeds(repo: TradingRepo, venue: str) -> Callable[[], set[Subscription]]:
    """The feeds the bots running on ``venue`` need, read from the database when called."""

    def wanted() -> set[Subscription]:
        return {Subscription(InstrumentId(venue, sym), tf) for sym, tf in repo.bot_feeds((venue,))}

    return wanted
