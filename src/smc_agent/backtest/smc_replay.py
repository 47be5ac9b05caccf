"""Batch-computed SMC events replayed bar by bar (a fast :class:`SMCSource` for backtests).

The SMC module runs the same compiled kernel in batch and streaming mode, so the batch event log,
delivered at the bar that produced each event, is exactly what ``SMCStream.update`` would return on
that candle. Higher timeframes are built with the engine's own :class:`CandleAggregator`, so the
replayed candles are the ones the strategy receives. A candle the replay did not expect raises
``DataError`` instead of silently desynchronising.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from smc_agent.backtest.data import F64, CandleData
from smc_agent.backtest.smc_decode import decode_rows
from smc_agent.core.candle import Candle
from smc_agent.core.errors import DataError
from smc_agent.engine.aggregator import CandleAggregator
from smc_agent.smc.batch import event_log
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.events import SMCEvent
from smc_agent.smc.kernel.layout import EV_BAR, EV_KIND
from smc_agent.strategy.smc_source import (
    KERNEL_KINDS,
    EventKinds,
    EventRow,
    SMCProvider,
    SMCSource,
    concepts_for,
)

_EMPTY: list[SMCEvent] = []
_NO_ROWS: list[EventRow] = []


# Event rows decoded at a time. Small on purpose: a chunk's objects then die before the garbage
# collector promotes them to its oldest generation; 4096 kept them alive long enough to be promoted
# and made the collector run full passes over the whole heap (77k candles: 0.52 s with 256, 0.69 s).
_CHUNK = 256


class ReplaySource:
    """Keeps the raw kernel event log and per-bar offsets; decodes the log a chunk at a time, ahead of
    the bars being fed, and serves each bar its slice of the decoded events (``update``) or of the
    kernel records (``rows``). Each call consumes one candle."""

    __slots__ = (
        "_bar_times",
        "_base",
        "_events",
        "_i",
        "_log",
        "_n",
        "_restart",
        "_row_base",
        "_rows",
        "_starts",
        "_times",
        "timeframe",
    )

    def __init__(
        self,
        timeframe: str,
        times: list[int],
        log: F64,
        restart: Callable[[int], ReplaySource] | None = None,
    ) -> None:
        self.timeframe = timeframe
        # a source first fed a later candle (a strategy that asks for it after a warm-up) starts there:
        # the replay of the data from that candle on, the events a stream started there emits
        self._restart = restart
        self._times = times
        self._bar_times = np.asarray(times, dtype=np.int64)
        self._n = len(times)
        self._log = log
        bars = log[:, EV_BAR].astype(np.int64) if len(log) else np.zeros(0, dtype=np.int64)
        self._starts: list[int] = np.searchsorted(bars, np.arange(len(times) + 1), side="left").tolist()
        self._i = 0
        self._base = 0  # index in the log of self._events[0]
        self._events: list[SMCEvent] = []
        self._row_base = 0  # index in the log of self._rows[0]
        self._rows: list[EventRow] = []

    def _unexpected(self, candle: Candle) -> DataError:
        i = self._i
        expected = self._times[i] if i < self._n else "end of data"
        return DataError(
            f"SMC replay {self.timeframe}: got candle at {candle.open_time}, expected {expected}"
        )

    def _start_at(self, candle: Candle) -> bool:
        """Fed first a candle after the data's first: become the replay of the data from it on."""
        restart, self._restart = self._restart, None
        if self._i or restart is None or candle.open_time not in self._times:
            return False
        fresh = restart(candle.open_time)
        for name in ReplaySource.__slots__:
            setattr(self, name, getattr(fresh, name))
        self._restart = None
        return True

    def update(self, candle: Candle) -> list[SMCEvent]:
        i = self._i
        if i >= self._n or candle.open_time != self._times[i]:
            if self._start_at(candle):
                return self.update(candle)
            raise self._unexpected(candle)
        self._i = i + 1
        starts = self._starts
        lo = starts[i]
        hi = starts[i + 1]
        if lo == hi:
            return _EMPTY
        base = self._base
        if hi - base > len(self._events):  # this bar's events run past the decoded chunk
            base = self._base = lo
            self._events = decode_rows(self._log[lo : min(max(hi, lo + _CHUNK), starts[-1])], self._bar_times)
        return self._events[lo - base : hi - base]

    def rows(self, candle: Candle) -> list[EventRow]:
        """This bar's events as kernel records (``update`` without decoding; the log is converted to
        Python lists a chunk at a time, like the decoded events)."""
        i = self._i
        if i >= self._n or candle.open_time != self._times[i]:
            if self._start_at(candle):
                return self.rows(candle)
            raise self._unexpected(candle)
        self._i = i + 1
        starts = self._starts
        lo = starts[i]
        hi = starts[i + 1]
        if lo == hi:
            return _NO_ROWS
        base = self._row_base
        if hi - base > len(self._rows):  # this bar's rows run past the converted chunk
            base = self._row_base = lo
            self._rows = self._log[lo : min(max(hi, lo + _CHUNK), starts[-1])].tolist()
        return self._rows[lo - base : hi - base]


def aggregate(data: CandleData, timeframe: str) -> CandleData:
    """The candles the engine's :class:`CandleAggregator` emits on ``timeframe`` for this base data.

    Vectorised, with the aggregator's rules: a bucket's candles form one group (a new group also
    starts after a candle that completed its bucket); every group is emitted except a trailing
    incomplete one and a first one the data starts in the middle of; volume is summed in candle order, as the aggregator does."""
    agg = CandleAggregator(data.timeframe, timeframe)  # validates the timeframes
    n = len(data)
    if n == 0 or not (np.isfinite(data.high).all() and np.isfinite(data.low).all()):
        return _aggregate_by_stream(data, agg)
    t = data.open_time
    bucket, end = agg.bucket_bounds(t)
    completes = t + agg.base_ms == end
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (bucket[1:] != bucket[:-1]) | completes[:-1]
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], n)  # exclusive
    if not completes[-1]:  # the last group is still open: not emitted
        starts, ends = starts[:-1], ends[:-1]
    if len(starts) and starts[0] == 0 and t[0] != bucket[0]:  # the first began before the data
        starts, ends = starts[1:], ends[1:]
    if len(starts) == 0:
        return _aggregate_by_stream(data, agg)
    lengths = ends - starts
    volume = data.volume[starts].copy()
    for j in range(1, int(lengths.max())):
        more = lengths > j
        volume[more] += data.volume[starts[more] + j]
    return CandleData(
        data.venue,
        data.symbol,
        timeframe,
        bucket[starts],
        data.open[starts],
        _reduce(np.maximum, data.high, starts, ends),
        _reduce(np.minimum, data.low, starts, ends),
        data.close[ends - 1],
        volume,
    )


def _reduce(ufunc: np.ufunc, values: F64, starts: npt.NDArray[np.intp], ends: npt.NDArray[np.intp]) -> F64:
    out: F64 = ufunc.reduceat(values[: ends[-1]], starts)
    return out


def _aggregate_by_stream(data: CandleData, agg: CandleAggregator) -> CandleData:
    out: list[Candle] = []
    for candle in data.candles():
        stale, done = agg.update(candle)
        if stale is not None:
            out.append(stale)
        if done is not None:
            out.append(done)
    cols = list(zip(*out, strict=True)) if out else [()] * 9
    return CandleData(
        data.venue,
        data.symbol,
        agg.timeframe,
        np.asarray(cols[3], dtype=np.int64),
        *(np.asarray(cols[k], dtype=np.float64) for k in range(4, 9)),
    )


def replay_source(data: CandleData, config: SMCConfig, kinds: EventKinds | None = None) -> ReplaySource:
    """Run the batch SMC set over ``data`` once and serve its events bar by bar (with ``kinds``: only
    the events of those types; only the concepts emitting them are computed, and the rows of other
    types are dropped before anything is decoded)."""
    times = data.open_time.tolist()
    if not times:
        return ReplaySource(data.timeframe, times, np.zeros((0, 10)))

    def restart(open_time: int) -> ReplaySource:
        return replay_source(data.between(open_time, None), config, kinds)

    arrays = data.to_smc()
    # only the concepts that emit the asked types are computed (no per-bar series, no sessions: they
    # emit no events); the log equals analyze(...).events restricted to those concepts' kinds
    log = event_log(arrays, config, concepts_for(kinds))
    if kinds is not None:
        codes = [code for kind in kinds for code in KERNEL_KINDS[kind]]
        log = log[np.isin(log[:, EV_KIND], codes)]
    return ReplaySource(data.timeframe, times, log, restart)


def replay_provider(data: CandleData) -> SMCProvider:
    """A provider building one replay per (timeframe, config, kinds) request over ``data``."""
    cache: dict[str, CandleData] = {data.timeframe: data}

    def provide(timeframe: str, config: SMCConfig, kinds: EventKinds | None = None) -> SMCSource:
        if timeframe not in cache:
            cache[timeframe] = aggregate(data, timeframe)
        return replay_source(cache[timeframe], config, kinds)

    return provide
