"""Candles the data pipeline marks history (its back-fill on start, a catch-up after an outage) reach
the strategies, but the entries they signal are refused: an hour-old signal went out as a market order."""

from __future__ import annotations

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.events import OrderDenied
from smc_agent.core.ids import InstrumentId
from smc_agent.live.codec import decode, encode_candle
from smc_agent.live.strategies import STRATEGIES
from smc_agent.live.streams import ORDERS_STREAM, MemoryStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import build_control
from tests.live.test_restart_and_incidents import INSTRUMENT

T0 = 1_800_000_000_000
BTC = InstrumentId("binance", "BTC/USDT")


async def test_entries_signalled_by_back_filled_candles_are_refused(migrated_sqlite_url: str) -> None:
    control, repo = build_control(migrated_sqlite_url, None)
    service = TradingService(
        bus=MemoryStreamBus(), repo=repo, control=control, instruments=[INSTRUMENT], strategies=STRATEGIES
    )
    drill = STRATEGIES["drill"]({"qty": 0.001, "every": 1})  # an order on every candle
    service.engine.add_strategy(drill, instrument_id=BTC, timeframe="1m", strategy_id="bot_drill")
    drill.on_start()
    service.engine.start()
    denied: list[OrderDenied] = []
    service.engine.bus.subscribe(OrderDenied, denied.append)  # type: ignore[arg-type]
    for i, history in enumerate([True, True, False]):  # a back-fill of three: the last one is live
        candle = Candle("binance", "BTC/USDT", "1m", T0 + i * 60_000, 100.0, 101.0, 99.0, 100.0, 5.0)
        await service._candle_entry(encode_candle(candle, history=history))
    assert service.candles_seen == 3  # the strategy saw all three
    assert [d.check for d in denied] == ["history", "history"]
    commands = [decode(fields) for _, fields in service.bus.streams[ORDERS_STREAM]]  # type: ignore[attr-defined]
    assert len(commands) == 1 and service.engine.replaying is None


class _Venue:
    """A venue whose candles are a list the test extends (only what the data service reads)."""

    venue = "binance"

    def __init__(self, timeframe: str = "1m") -> None:
        self.candles: list[Candle] = []
        self.timeframe = timeframe

    async def fetch_candles(
        self, iid: InstrumentId, timeframe: str, *, since_ms: int | None, limit: int
    ) -> list[Candle]:
        out = [c for c in self.candles if since_ms is None or c.open_time >= since_ms]
        return out[-limit:] if since_ms is None else out[:limit]

    def add(self, n: int) -> None:
        start = len(self.candles)
        step = timeframe_ms(self.timeframe)
        self.candles += [
            Candle("binance", "BTC/USDT", self.timeframe, T0 + i * step, 100.0, 101.0, 99.0, 100.0, 1.0)
            for i in range(start, start + n)
        ]


async def test_candles_that_closed_faster_than_a_poll_are_live_and_an_outages_are_history() -> None:
    """Of every poll, all but the newest candle were history: two candles closing within one poll (a
    replay at speed, a slow poll) had the older one's entries refused, though it was a minute old."""
    from smc_agent.live.codec import is_history
    from smc_agent.live.data_service import DataService, Subscription
    from smc_agent.live.streams import CANDLES_STREAM

    venue, bus = _Venue(), MemoryStreamBus()
    data = DataService(bus=bus, venue=venue, subscriptions=[Subscription(BTC, "1m")], warmup=5)  # type: ignore[arg-type]
    venue.add(5)
    await data.poll_once()  # the back-fill: all but its newest are history
    venue.add(2)
    await data.poll_once()  # two new candles: both live
    venue.add(6)
    await data.poll_once()  # an outage of six: those more than two bars before the newest are history
    flags = [is_history(fields) for _, fields in bus.streams[CANDLES_STREAM]]
    assert flags == [True] * 4 + [False] + [False] * 2 + [True] * 3 + [False] * 3


async def test_a_catch_up_of_day_candles_trades_only_the_newest() -> None:
    """The live lag was 2 bars whatever the timeframe: after a 3-day outage, day candles 2 days old
    were published live and their entries traded at today's price."""
    from smc_agent.live.codec import is_history
    from smc_agent.live.data_service import DataService, Subscription
    from smc_agent.live.streams import CANDLES_STREAM

    venue, bus = _Venue("1d"), MemoryStreamBus()
    data = DataService(bus=bus, venue=venue, subscriptions=[Subscription(BTC, "1d")], warmup=3)  # type: ignore[arg-type]
    venue.add(3)
    await data.poll_once()
    venue.add(4)  # the venue was unreachable for three days
    await data.poll_once()
    flags = [is_history(fields) for _, fields in bus.streams[CANDLES_STREAM]]
    assert flags == [True, True, False, True, True, True, False]
