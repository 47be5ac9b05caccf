"""SMC events as kernel records (``rows``): the same events as ``update`` without an object per event,
and the SMC strategy on records trades exactly as on the event objects (the code the records replace)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.runner import BacktestConfig, BacktestResult, run_backtest
from smc_agent.backtest.smc_decode import decode_rows
from smc_agent.backtest.smc_replay import replay_provider, replay_source
from smc_agent.core.candle import Candle
from smc_agent.smc.batch import analyze
from smc_agent.smc.candles import Candles
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.decode import decode_event
from smc_agent.smc.events import FVGFormed, FVGMitigated, LiquiditySwept, StructureBroken, SwingConfirmed
from smc_agent.smc.kernel.layout import EV_KIND, K_FVG_MITIGATED, K_FVG_NEW
from smc_agent.smc.stream import SMCStream
from smc_agent.strategy.smc_source import EventKinds, SMCSource, StreamSource, stream_provider
from smc_agent.strategy.smc_structure import SmcStructure
from tests.backtest._data import load_candles
from tests.smc._gen import random_candles


def _data_of(c: Candles, timeframe: str = "15m") -> CandleData:
    return CandleData.from_smc(c, venue="binance", symbol="BTC/USDT", timeframe=timeframe)


def _candles(data: CandleData) -> list[Candle]:
    return [
        Candle(
            data.venue,
            data.symbol,
            data.timeframe,
            int(data.open_time[i]),
            float(data.open[i]),
            float(data.high[i]),
            float(data.low[i]),
            float(data.close[i]),
            float(data.volume[i]),
        )
        for i in range(len(data))
    ]


def _real(n: int) -> CandleData:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    return data.between(None, int(data.open_time[n]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stream_update_rows_are_the_records_of_update(seed: int) -> None:
    c = random_candles(seed, 3000, tick=0.5 if seed == 2 else 0.0, gap_hours=20 if seed == 3 else 0)
    config = SMCConfig(swing_length=2 + seed, fvg_join_consecutive=seed == 1)
    events, records = SMCStream(config), SMCStream(config)
    seen = 0
    for i in range(len(c)):
        args = (c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i], int(c.ts_ms[i]))
        want = events.update(*args)
        rows = records.update_rows(*args)
        got = [decode_event(r, int(c.ts_ms[i])) for r in rows]
        assert got == want and [type(e) for e in got] == [type(e) for e in want]
        seen += len(want)
    assert seen > 500


@pytest.mark.parametrize(
    "kinds",
    [
        None,
        frozenset({StructureBroken}),
        frozenset({FVGFormed, FVGMitigated, SwingConfirmed, LiquiditySwept}),
    ],
)
def test_replay_and_stream_rows_decode_to_their_events(kinds: EventKinds | None) -> None:
    data = _real(3000)
    config = SMCConfig(swing_length=3)
    times = np.asarray(data.open_time, dtype=np.int64)
    sources = [replay_source(data, config, kinds), StreamSource(config, kinds)]
    twins = [replay_source(data, config, kinds), StreamSource(config, kinds)]
    served = 0
    for candle in _candles(data):
        want = twins[0].update(candle)
        assert twins[1].update(candle) == want
        for source in sources:
            rows = source.rows(candle)  # type: ignore[attr-defined]
            got = decode_rows(np.asarray(rows).reshape(len(rows), 10), times)
            assert got == want and [type(e) for e in got] == [type(e) for e in want]
        served += len(want)
    assert served > 20


class _EventsOnly:
    """A provider's source without ``rows`` (what a third-party provider may hand out)."""

    def __init__(self, source: SMCSource) -> None:
        self._source = source

    def update(self, candle: Candle) -> list[Any]:
        return self._source.update(candle)


def _without_rows(provider: Any) -> Any:
    def provide(timeframe: str, config: SMCConfig, kinds: EventKinds | None = None) -> SMCSource:
        return _EventsOnly(provider(timeframe, config, kinds))

    return provide


def _run(strategy: SmcStructure, data: CandleData, mode: str, rows: bool) -> BacktestResult:
    config = BacktestConfig(smc_mode=mode)
    if rows:
        result = run_backtest(strategy, data, config)
        assert strategy._ltf_rows is not None  # the records path ran
        return result
    # the events path: the sources lack ``rows`` (installed through the provider the runner uses)
    provider = replay_provider(data) if mode == "replay" else stream_provider
    original = type(strategy).on_start

    def on_start(self: SmcStructure, **kwargs: Any) -> None:
        self.smc_provider = _without_rows(provider)
        original(self, **kwargs)
        assert self._ltf_rows is None

    strategy.on_start = on_start.__get__(strategy)  # type: ignore[method-assign]
    return run_backtest(strategy, data, replace(config, smc_mode="stream"))


def _same(a: BacktestResult, b: BacktestResult) -> None:
    assert a.trades == b.trades
    assert a.stats == b.stats
    assert a.orders == b.orders
    assert a.fills == b.fills
    assert a.annotations == b.annotations
    assert [type(v) for x in a.annotations for v in x.values()] == [
        type(v) for x in b.annotations for v in x.values()
    ]
    np.testing.assert_array_equal(a.equity, b.equity)
    np.testing.assert_array_equal(a.position, b.position)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"swing_length": 3, "htf_swing_length": 3, "max_zone_age": 40},
        {"use_fvg": False, "rr": 1.5, "min_rr": 1.0},
        {"swing_length": 2, "stop_buffer": 0.0, "min_risk": 0.001, "max_zone_age": 100_000},
    ],
)
@pytest.mark.parametrize("mode", ["replay", "stream"])
def test_strategy_on_rows_trades_exactly_as_on_events(params: dict[str, Any], mode: str) -> None:
    data = _real(6000)
    on_rows = _run(SmcStructure(**params), data, mode, rows=True)
    on_events = _run(SmcStructure(**params), data, mode, rows=False)
    assert len(on_rows.trades) > 3
    _same(on_rows, on_events)


def _trending(seed: int, n: int) -> Candles:
    """A steady uptrend: thousands of bullish gaps are never mitigated."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(0.003 + rng.normal(0.0, 0.002, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.0005, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.0005, n))
    ts = 1_704_067_200_000 + 300_000 * np.arange(n, dtype=np.int64)
    return Candles.from_arrays(open=open_, high=high, low=low, close=close, volume=np.ones(n), ts_ms=ts)


def test_strategy_on_rows_prunes_aged_zones_as_on_events() -> None:
    """More than 512 zones stay unmitigated, so the pruning runs (and runs alike on both paths)."""
    candles = _trending(5, 6000)
    data = _data_of(candles, "5m")
    params = {"swing_length": 1, "htf_swing_length": 2, "max_zone_age": 50}
    log = analyze(candles, SMCConfig(swing_length=1)).events
    formed = int(np.count_nonzero(log[:, EV_KIND] == K_FVG_NEW))
    mitigated = int(np.count_nonzero(log[:, EV_KIND] == K_FVG_MITIGATED))
    assert formed - mitigated > 2000
    strategy = SmcStructure(**params)
    on_rows = _run(strategy, data, "replay", rows=True)
    assert not on_rows.failures
    assert 0 < len(strategy._zones) <= 520  # pruned: at most one bar's new zones above the bound
    _same(on_rows, _run(SmcStructure(**params), data, "replay", rows=False))
