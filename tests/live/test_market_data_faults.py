"""The data-pipeline against a venue that misbehaves: an impossible candle never reaches a strategy, a
catch-up after a long outage is history (its signals are not traded), a frozen feed is said and makes
the service not ready, and no error (a malformed answer, the stream store restarting) ends its loop."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest
import redis
import structlog
from sqlalchemy.engine import make_url

from smc_agent.core.candle import Candle
from smc_agent.core.ids import InstrumentId
from smc_agent.live.codec import decode_candle, is_history
from smc_agent.live.data_service import DataService, Subscription
from smc_agent.live.streams import CANDLES_STREAM, MemoryStreamBus, RedisStreamBus
from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway
from tests.live.proxy import Proxy

BTC = InstrumentId("binance", "BTC/USDT")
MIN = 60_000
T0 = 1_800_000_000_000 - 1_800_000_000_000 % MIN


def _candle(i: int, close: float = 100.0) -> Candle:
    return Candle("binance", "BTC/USDT", "1m", T0 + i * MIN, 100.0, 101.0, 99.0, close, 3.0)


class _Venue:
    """Closed 1m candles up to ``closed`` (exclusive), as the venue lists them; ``fail`` raises once."""

    venue = "binance"

    def __init__(self) -> None:
        self.closed = 0
        self.fail: BaseException | None = None

    async def fetch_candles(
        self, iid: InstrumentId, timeframe: str, *, since_ms: int | None = None, limit: int | None = None
    ) -> Sequence[Candle]:
        if self.fail is not None:
            exc, self.fail = self.fail, None
            raise exc
        first = 0 if since_ms is None else (since_ms - T0) // MIN
        rows = [_candle(i) for i in range(max(first, 0), self.closed)]
        return rows[-(limit or 500) :] if since_ms is None else rows[: limit or 500]


class _Clock:
    """Our monotonic time, in seconds."""

    def __init__(self) -> None:
        self.s = 1_000.0

    def __call__(self) -> float:
        return self.s


def _published(bus: MemoryStreamBus) -> list[tuple[Candle, bool]]:
    return [(decode_candle(f), is_history(f)) for _, f in bus.streams.get(CANDLES_STREAM, [])]


async def test_a_catch_up_after_a_long_outage_is_history() -> None:
    # the live lag was judged within one poll only: after an outage longer than a page (500 bars) the
    # newest candles of the first catch-up page, hours old, were published live and traded. A full
    # page is a catch-up (more follow): history; the last page's newest candles are live
    venue, bus = _Venue(), MemoryStreamBus()
    data = DataService(bus=bus, venue=venue, subscriptions=[Subscription(BTC, "1m")], warmup=5)  # type: ignore[arg-type]
    venue.closed = 6
    await data.poll_once()
    assert [h for _, h in _published(bus)] == [True] * 4 + [False]  # the back-fill; its newest is live
    venue.closed = 1_300  # 21 hours down, then back
    pages = []
    while count := await data.poll_once():  # the catch-up, a page (500) at a time
        pages.append(count)
    assert pages == [500, 500, 294]
    after = _published(bus)[5:]
    assert [c.open_time for c, _ in after] == [T0 + i * MIN for i in range(6, 1_300)]  # each once
    live = [c.open_time for c, history in after if not history]
    assert live == [T0 + i * MIN for i in (1_297, 1_298, 1_299)]  # within 2 bars of the newest


async def test_impossible_or_malformed_candles_from_the_venue_are_refused_and_said() -> None:
    gateway = CcxtGateway(make_client("binance", base_url="http://127.0.0.1:9"), venue="binance")
    good = [T0 + 0 * MIN, 100, 101, 99, 100.5, 3]
    rows = [
        good,
        [T0 + 1 * MIN, 0, 0, 0, 0, 3],  # zero prices
        [T0 + 2 * MIN, 100, 101, 99, math.nan, 3],
        [T0 + 3 * MIN, 100, 90, 110, 100, 3],  # high below low
        [T0 + 4 * MIN, -100, -99, -101, -100, 3],
        [T0 + 5 * MIN, 100, 101, 99, None, 3],  # a null close
        [None, None, None, None, None, None],  # an HTML page ccxt parsed into rows
        [T0 + 7 * MIN, 100, 101, 99, 100.5, 3],
        [T0 + 8 * MIN, 100, 101, 99, 100.5, 3],  # the forming candle: never returned
    ]

    async def fetch_ohlcv(*args: object) -> list[list[object]]:
        return rows

    gateway.exchange.fetch_ohlcv = fetch_ohlcv
    try:
        with structlog.testing.capture_logs() as logs:
            candles = await gateway.fetch_candles(BTC, "1m", since_ms=T0, limit=100)
    finally:
        await gateway.close()
    assert [c.open_time for c in candles] == [T0, T0 + 7 * MIN]
    assert gateway.klines_refused == 6
    refused = [entry for entry in logs if entry["event"] == "ALERT malformed candle from the venue refused"]
    assert len(refused) == 6 and all(entry["log_level"] == "error" for entry in refused)
    assert any("not positive" in entry["reason"] for entry in refused)
    assert any("OHLC violation" in entry["reason"] for entry in refused)


@pytest.mark.parametrize(
    "values", [(0, 1, 0, 1, 1), (1, 1, 1, math.inf, 1), (-1, 1, -2, 1, 1), (1, 2, 1, 1, -1)]
)
def test_a_candle_that_cannot_have_traded_is_invalid(values: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="candle BTC/USDT@binance 1m"):
        Candle("binance", "BTC/USDT", "1m", T0, *values).validate()


async def test_no_error_ends_the_poll_loop_and_a_frozen_feed_is_said_and_not_ready() -> None:
    # a TypeError from a malformed answer ended the loop for good (only venue errors were caught),
    # and a feed that stopped was noticed by nobody: readiness was "published anything once"
    venue, clock, bus = _Venue(), _Clock(), MemoryStreamBus()
    data = DataService(
        bus=bus, venue=venue, subscriptions=[Subscription(BTC, "1m")], warmup=3, poll_s=0.01, monotonic=clock
    )  # type: ignore[arg-type]
    venue.closed = 4
    with structlog.testing.capture_logs() as logs:
        task = asyncio.get_running_loop().create_task(data.run())
        try:
            for _ in range(200):
                await asyncio.sleep(0.01)
                if data.published:
                    break
            assert data.ready()[0]
            venue.fail = TypeError("int() argument must be a string, not 'NoneType'")
            await asyncio.sleep(0.1)
            assert not task.done() and data.last_error is not None and "TypeError" in data.last_error
            clock.s += 4 * 60  # the venue answers, but no candle closes for 4 bars of our time
            await asyncio.sleep(0.1)
            ready, detail = data.ready()
            assert not ready and "no new candle for 240 s" in detail["stale"]
            assert any(e["event"] == "ALERT market data feed stale: no new candles" for e in logs)
            venue.closed = 9  # candles flow again
            await asyncio.sleep(0.2)
            assert data.ready()[0] and not task.done()
            assert any(e["event"] == "market data feed fresh again" for e in logs)
        finally:
            data.stopping = True
            await asyncio.wait([task], timeout=2)
    assert [c.open_time for c, _ in _published(bus)] == [T0 + i * MIN for i in range(1, 9)]  # once each


async def test_the_pipeline_publishes_again_after_redis_restarts(redis_pair: tuple[str, str]) -> None:
    # redis-py's ConnectionError is not an OSError: the first one ended the loop, the process kept
    # running and published nothing again (the trading engine's loops already retried)
    url = redis_pair[0]
    port = int(make_url(url).port or 6379)
    proxy = Proxy(port)
    bus = RedisStreamBus(url.replace(f":{port}/", f":{proxy.port}/"))
    venue = _Venue()
    data = DataService(bus=bus, venue=venue, subscriptions=[Subscription(BTC, "1m")], warmup=3, poll_s=0.05)  # type: ignore[arg-type]
    venue.closed = 4
    direct = redis.Redis.from_url(url)
    task = asyncio.get_running_loop().create_task(data.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if data.published == 3:
                break
        proxy.down()  # Redis restarts
        venue.closed = 6
        await asyncio.sleep(0.5)
        proxy.up()
        for _ in range(200):
            await asyncio.sleep(0.05)
            if direct.xlen(CANDLES_STREAM) == 5:
                break
        assert not task.done()
        times = [
            decode_candle({k.decode(): v.decode() for k, v in f.items()}).open_time
            for _, f in direct.xrange(CANDLES_STREAM)
        ]
        assert times == [T0 + i * MIN for i in range(1, 6)]  # each once, in order
    finally:
        data.stopping = True
        await asyncio.wait([task], timeout=2)
        proxy.down()
        await bus.close()
        direct.delete(CANDLES_STREAM)
        direct.close()


async def test_a_paper_venue_replaying_old_candles_is_live_and_fresh_by_its_own_time() -> None:
    # judged by our wall clock, a simulator replaying 2024 (or running behind the wall clock) had every
    # candle marked history, never traded, and its feed called stale
    back = 3 * 365 * 86_400_000

    class _Replay(_Venue):
        async def fetch_candles(
            self, iid: InstrumentId, timeframe: str, *, since_ms: int | None = None, limit: int | None = None
        ) -> Sequence[Candle]:
            since = None if since_ms is None else since_ms + back
            rows = await super().fetch_candles(iid, timeframe, since_ms=since, limit=limit)
            return [c._replace(open_time=c.open_time - back) for c in rows]

    venue, clock, bus = _Replay(), _Clock(), MemoryStreamBus()
    data = DataService(
        bus=bus, venue=venue, subscriptions=[Subscription(BTC, "1m")], warmup=5, monotonic=clock
    )  # type: ignore[arg-type]
    venue.closed = 6
    await data.poll_once()
    clock.s += 60
    venue.closed = 7
    await data.poll_once()
    assert [h for _, h in _published(bus)][-2:] == [False, False]
    assert data.ready()[0] and data.stale() is None


async def test_a_catch_up_page_shortened_by_a_refused_row_is_still_history() -> None:
    # the gateway refuses a malformed row: the first page of a catch-up came back 499 long, was taken
    # for the last one, and its newest candles, 41 hours old, were published live
    class _Refusing(_Venue):
        async def fetch_candles(self, *args: object, **kwargs: object) -> Sequence[Candle]:
            rows = list(await super().fetch_candles(*args, **kwargs))  # type: ignore[arg-type]
            return [c for c in rows if c.open_time != T0 + 100 * MIN]  # one row refused

    venue, bus = _Refusing(), MemoryStreamBus()
    data = DataService(bus=bus, venue=venue, subscriptions=[Subscription(BTC, "1m")], warmup=5)  # type: ignore[arg-type]
    venue.closed = 6
    await data.poll_once()
    venue.closed = 2_500  # 41 hours down
    while await data.poll_once():
        pass
    live = [c.open_time for c, history in _published(bus)[5:] if not history]
    assert live == [T0 + i * MIN for i in (2_497, 2_498, 2_499)]  # the newest only


class _Symbols(_Venue):
    """Candles of whatever symbol and timeframe is asked; the symbols in ``broken`` always fail."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()
        self.asked: list[tuple[str, str]] = []

    async def fetch_candles(
        self, iid: InstrumentId, timeframe: str, *, since_ms: int | None = None, limit: int | None = None
    ) -> Sequence[Candle]:
        self.asked.append((iid.symbol, timeframe))
        if iid.symbol in self.broken:
            raise TimeoutError(f"{iid.symbol}: the venue did not answer")
        rows = await super().fetch_candles(iid, "1m", since_ms=since_ms, limit=limit)
        return [c._replace(symbol=iid.symbol, timeframe=timeframe) for c in rows]


ETH = InstrumentId("binance", "ETH/USDT")


async def test_a_failing_feed_neither_starves_the_others_nor_hides_behind_them() -> None:
    # the feeds were polled one after the other in one try: the first that failed ended the poll, so
    # the feeds after it got nothing; and a feed that stopped went unnoticed while another flowed
    venue, clock, bus = _Symbols(), _Clock(), MemoryStreamBus()
    feeds = [Subscription(ETH, "1m"), Subscription(BTC, "1m")]
    data = DataService(bus=bus, venue=venue, subscriptions=feeds, warmup=3, monotonic=clock)  # type: ignore[arg-type]
    venue.broken = {"ETH/USDT"}
    venue.closed = 4
    with structlog.testing.capture_logs() as logs:
        assert await data.poll_once() == 3  # BTC's back-fill, after ETH failed
        for minute in range(5, 10):
            clock.s += 60
            venue.closed = minute
            data._watch_staleness()
            assert await data.poll_once() == 1
    assert {c.symbol for c, _ in _published(bus)} == {"BTC/USDT"}
    assert data.last_error is not None and data.last_error.startswith("ETH/USDT 1m: TimeoutError")
    # the broken feed is asked again with back-off (10 s at most), not at every poll
    asked = venue.asked.count(("ETH/USDT", "1m"))
    clock.s += 1
    await data.poll_once()
    assert venue.asked.count(("ETH/USDT", "1m")) == asked
    ready, detail = data.ready()
    assert not ready and detail["stale"].startswith("ETH/USDT 1m: no new candle for 301 s"), detail
    assert "BTC/USDT" not in detail["stale"]
    alerts = [e for e in logs if e["event"] == "ALERT market data feed stale: no new candles"]
    assert [e["symbol"] for e in alerts] == ["ETH/USDT"]


async def test_a_stale_feed_no_bot_needs_any_more_is_said_dropped_not_fresh() -> None:
    # a stale feed whose bot stopped left the stale set and was logged "fresh again": an operator
    # read that its candles flowed again
    venue, clock, bus = _Symbols(), _Clock(), MemoryStreamBus()
    bots = {Subscription(ETH, "1m")}
    data = DataService(
        bus=bus,
        venue=venue,  # type: ignore[arg-type]
        subscriptions=[Subscription(BTC, "1m")],
        warmup=2,
        monotonic=clock,
        wanted=lambda: set(bots),
        refresh_s=15,
    )
    venue.closed = 3
    assert await data.poll_once() == 4  # the back-fill of both
    venue.broken = {"ETH/USDT"}
    with structlog.testing.capture_logs() as logs:
        for minute in range(4, 10):
            clock.s += 60
            venue.closed = minute
            await data.poll_once()
            data._watch_staleness()
        assert data.said_stale == {Subscription(ETH, "1m")}
        bots.clear()  # its bot stopped
        clock.s += 60
        await data.poll_once()  # reads the bots beside the poll
        await asyncio.sleep(0.2)
        await data.poll_once()  # takes the reading up: ETH dropped
        data._watch_staleness()
    assert data.subscriptions == [Subscription(BTC, "1m")] and not data.said_stale
    events = [e["event"] for e in logs if e.get("symbol") == "ETH/USDT"]
    assert events == [
        "ALERT market data feed stale: no new candles",
        "stale market data feed dropped: no bot needs it",
    ]


async def test_the_pipeline_stores_the_candles_it_publishes_and_rides_out_a_database_outage(
    migrated_sqlite_url: str,
) -> None:
    # the candles went to the engines only: the dashboard's chart and its backtests found none stored
    from smc_agent.marketdata.store import END_OF_TIME_MS, SqlCandleStore
    from smc_agent.store.db import make_engine, make_session_factory

    class Flaky(SqlCandleStore):
        down = False

        def put(self, candles: Sequence[Candle], *, source: str = "") -> int:
            if self.down:
                raise OSError("database unreachable")
            return super().put(candles, source=source)

    store = Flaky(make_session_factory(make_engine(migrated_sqlite_url)))
    venue, bus = _Venue(), MemoryStreamBus()
    data = DataService(bus=bus, venue=venue, subscriptions=[Subscription(BTC, "1m")], warmup=3, store=store)  # type: ignore[arg-type]
    venue.closed = 4
    assert await data.poll_once() == 3

    def stored() -> list[int]:
        return [
            c.open_time for c in store.get("binance", "BTC/USDT", "1m", start_ms=0, end_ms=END_OF_TIME_MS)
        ]

    assert stored() == [T0 + i * MIN for i in range(1, 4)]
    store.down = True
    with structlog.testing.capture_logs() as logs:
        for closed in (5, 6):
            venue.closed = closed
            assert await data.poll_once() == 1  # published all the same
        assert data.store_error is not None and stored() == [T0 + i * MIN for i in range(1, 4)]
        store.down = False
        venue.closed = 7
        assert await data.poll_once() == 1
    assert stored() == [T0 + i * MIN for i in range(1, 7)]  # no gap: the two kept back are stored too
    assert [e["event"] for e in logs if "stored" in e["event"]] == [
        "candles published but not stored; kept for the next write",
        "candles stored again",
    ]
    assert [c.open_time for c, _ in _published(bus)] == [T0 + i * MIN for i in range(1, 7)]


async def test_the_pipeline_publishes_the_feeds_its_bots_need(migrated_sqlite_url: str) -> None:
    # it published the one --symbol on the one --timeframe it was started with: a bot on another symbol
    # or timeframe never saw a candle, and nothing said so
    from smc_agent.live.data_service import bot_feeds
    from smc_agent.store.db import make_engine, make_session_factory, transaction
    from smc_agent.store.trading_repo import TradingRepo
    from smc_agent.store.users import create_user

    factory = make_session_factory(make_engine(migrated_sqlite_url))
    repo = TradingRepo(factory)
    with transaction(factory) as session:
        owner = create_user(session, username="trader", password="a-long-password-1", role="admin").id
    bots = {  # name: venue, symbol, state
        "eth": ("binance", "ETH/USDT", "running"),
        "on bybit": ("bybit", "SOL/USDT", "running"),
        "idle": ("binance", "XRP/USDT", "stopped"),
    }
    ids = {
        name: repo.create_bot(
            user_id=owner,
            name=name,
            strategy="sma_cross",
            venue=venue_name,
            symbols=[symbol],
            timeframes=["1m"],
            state=state,
        )
        for name, (venue_name, symbol, state) in bots.items()
    }
    venue, clock, bus = _Symbols(), _Clock(), MemoryStreamBus()
    data = DataService(
        bus=bus,
        venue=venue,  # type: ignore[arg-type]
        subscriptions=[Subscription(BTC, "1m")],
        warmup=2,
        monotonic=clock,
        wanted=bot_feeds(repo, "binance"),
        refresh_s=15,
    )
    venue.closed = 3
    assert await data.poll_once() == 4
    assert {(c.symbol, c.timeframe) for c, _ in _published(bus)} == {("BTC/USDT", "1m"), ("ETH/USDT", "1m")}
    repo.set_bot_state(ids["eth"], "stopped")
    clock.s += 10
    venue.closed = 4
    assert await data.poll_once() == 2  # not read again before 15 s
    clock.s += 10
    venue.closed = 5
    assert await data.poll_once() == 2  # the database is read beside this poll, which does not wait
    await asyncio.sleep(0.3)
    venue.closed = 6
    asked = len(venue.asked)
    assert await data.poll_once() == 1  # ETH dropped: its bot stopped
    assert [s for s, _ in venue.asked[asked:]] == ["BTC/USDT", "BTC/USDT"]  # the poll and its confirm fetch
    assert data.ready()[1]["subscriptions"] == ["BTC/USDT 1m"]
