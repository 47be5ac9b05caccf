"""Batch-computed SMC events replayed bar by bar (a fast :class:`SMCSource` for backtests).

The SMC module runs the same compiled kernel in batch and streaming mode, so the batch event log,
delivered at the bar that produced each event, is exactly what ``SMCStream.update`` would return on
that candle. Higher timeframes are built with the engine's own :class:`CandleAggregator`, so the
replayed candles are the ones the strategy receives. A candle the replay did not expect raises
``DataError`` instead of silently desynchronising.
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from itertools import repeat

from smc_agent.backtest.data import CandleData
from smc_agent.core.candle import Candle
from smc_agent.core.errors import DataError
from smc_agent.engine.aggregator import CandleAggregator
from smc_agent.smc.batch import analyze
from smc_agent.smc.candles import Candles
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.decode import decode_event
from smc_agent.smc.events import SMCEvent
from smc_agent.smc.kernel.layout import EV_BAR
from smc_agent.strategy.smc_source import SMCProvider, SMCSource

_EMPTY: list[SMCEvent] = []


class ReplaySource:
    __slots__ = ("_events", "_i", "_times", "timeframe")

    def __init__(self, timeframe: str, times: list[int], events: dict[int, list[SMCEvent]]) -> None:
        self.timeframe = timeframe
        self._times = times
        self._events = events
        self._i = 0

    def update(self, candle: Candle) -> list[SMCEvent]:
        i = self._i
        if i >= len(self._times) or candle.open_time != self._times[i]:
            expected = self._times[i] if i < len(self._times) else "end of data"
            raise DataError(
                f"SMC replay {self.timeframe}: got candle at {candle.open_time}, expected {expected}"
            )
        self._i = i + 1
        return self._events.get(i, _EMPTY)


def candles_of(data: CandleData, timeframe: str) -> list[Candle]:
    """The candles a strategy sees on ``timeframe``: the base data, or the engine's aggregation of it."""
    base = list(
        map(
            partial(tuple.__new__, Candle),
            zip(
                repeat(data.venue),
                repeat(data.symbol),
                repeat(data.timeframe),
                data.open_time.tolist(),
                data.open.tolist(),
                data.high.tolist(),
                data.low.tolist(),
                data.close.tolist(),
                data.volume.tolist(),
                strict=False,
            ),
        )
    )
    if timeframe == data.timeframe:
        return base
    agg = CandleAggregator(data.timeframe, timeframe)
    out: list[Candle] = []
    for candle in base:
        stale, done = agg.update(candle)
        if stale is not None:
            out.append(stale)
        if done is not None:
            out.append(done)
    return out


def replay_source(candles: list[Candle], timeframe: str, config: SMCConfig) -> ReplaySource:
    times = [c.open_time for c in candles]
    if not candles:
        return ReplaySource(timeframe, times, {})
    arrays = Candles.from_arrays(
        open=[c.open for c in candles],
        high=[c.high for c in candles],
        low=[c.low for c in candles],
        close=[c.close for c in candles],
        volume=[c.volume for c in candles],
        ts_ms=times,
    )
    log = analyze(arrays, config).events
    by_bar: dict[int, list[SMCEvent]] = defaultdict(list)
    for row in log.tolist():
        bar = int(row[EV_BAR])
        by_bar[bar].append(decode_event(row, times[bar]))
    return ReplaySource(timeframe, times, dict(by_bar))


def replay_provider(data: CandleData) -> SMCProvider:
    """A provider building one replay per (timeframe, config) request over ``data``."""
    cache: dict[str, list[Candle]] = {}

    def provide(timeframe: str, config: SMCConfig) -> SMCSource:
        if timeframe not in cache:
            cache[timeframe] = candles_of(data, timeframe)
        return replay_source(cache[timeframe], timeframe, config)

    return provide
