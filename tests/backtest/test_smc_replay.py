"""The batch replay of SMC events drives the SMC strategy exactly like the streaming SMCStream."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.backtest.smc_decode import decode_rows
from smc_agent.backtest.smc_replay import aggregate, replay_source
from smc_agent.core.candle import Candle
from smc_agent.core.errors import DataError
from smc_agent.engine.aggregator import CandleAggregator
from smc_agent.smc.batch import analyze, event_log
from smc_agent.smc.config import BreakSource, SMCConfig
from smc_agent.smc.decode import decode_event
from smc_agent.smc.events import (
    FVGFormed,
    FVGMitigated,
    LiquiditySwept,
    OrderBlockFormed,
    StructureBroken,
    SwingConfirmed,
)
from smc_agent.smc.kernel.layout import EV_KIND, K_PERIOD_BROKEN, K_SWING
from smc_agent.smc.kernel.state import ALL
from smc_agent.smc.stream import SMCStream
from smc_agent.strategy.smc_source import CONCEPT_OF, KERNEL_KINDS, StreamSource
from smc_agent.strategy.smc_structure import SmcStructure
from tests.backtest._data import load_candles
from tests.smc._gen import random_candles


def test_replay_equals_stream_on_real_data() -> None:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    data = data.between(None, int(data.open_time[8000]))
    config = BacktestConfig()
    replayed = run_backtest(SmcStructure(), data, config)
    streamed = run_backtest(SmcStructure(), data, replace(config, smc_mode="stream"))
    assert len(replayed.trades) > 3
    assert replayed.trades == streamed.trades
    assert replayed.stats == streamed.stats


class _LateSmc(SmcStructure):
    """Asks for its SMC source only after a warm-up: the replay was built for the data's first candle
    and halted the bot at the first later one ("expected ..."), while live (a stream) it traded."""

    def on_start(self, **kwargs: object) -> None:
        self._seen = 0
        self._ready = False

    def on_candle(self, candle: Candle) -> None:
        self._seen += 1
        if self._seen == 300 and not self._ready:
            self._ready = True
            super().on_start()
        if self._ready:
            super().on_candle(candle)


def test_a_source_asked_for_after_the_first_candle_replays_from_there_as_a_stream_would() -> None:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    data = data.between(None, int(data.open_time[6000]))
    config = BacktestConfig()
    replayed = run_backtest(_LateSmc(), data, config)
    streamed = run_backtest(_LateSmc(), data, replace(config, smc_mode="stream"))
    assert not replayed.failures and not streamed.failures
    assert len(replayed.trades) > 3
    assert replayed.trades == streamed.trades
    assert replayed.stats == streamed.stats


def test_replay_refuses_an_unexpected_candle() -> None:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_1h.csv", symbol="BTC/USDT", timeframe="1h")
    four_hours = aggregate(data.between(None, int(data.open_time[100])), "4h")
    assert len(four_hours) == 25 and not (four_hours.open_time % (4 * 3_600_000)).any()
    assert four_hours.high[0] == data.high[:4].max() and four_hours.close[0] == data.close[3]
    source = replay_source(four_hours, SMCConfig())
    candles = [
        Candle("binance", "BTC/USDT", "4h", int(t), 1.0, 1.0, 1.0, 1.0, 1.0) for t in four_hours.open_time
    ]
    source.update(candles[0])
    with pytest.raises(DataError, match="expected"):
        source.update(candles[2])


def _candles_through_aggregator(data: CandleData, timeframe: str) -> list[Candle]:
    agg = CandleAggregator(data.timeframe, timeframe)
    out: list[Candle] = []
    for i in range(len(data)):
        row = (data.open_time[i], data.open[i], data.high[i], data.low[i], data.close[i], data.volume[i])
        candle = Candle(data.venue, data.symbol, data.timeframe, int(row[0]), *map(float, row[1:]))
        out.extend(c for c in agg.update(candle) if c is not None)
    return out


@pytest.mark.parametrize("timeframe", ["15m", "1h", "1d"])
def test_vectorised_aggregate_emits_what_the_engine_aggregator_emits(timeframe: str) -> None:
    """Gaps (random candles dropped), off-grid open times, a trailing incomplete bucket."""
    rng = np.random.default_rng(7)
    n = 3_000
    times = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000 + np.arange(n, dtype=np.int64) * 300_000
    times[::7] += 60_000  # off the 5m grid: buckets can split after a completing candle
    keep = np.sort(rng.choice(n, size=n - 400, replace=False))[:-5]
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    data = CandleData(
        "binance",
        "BTC/USDT",
        "5m",
        times[keep],
        (close - rng.random(n))[keep],
        (close + rng.random(n) * 3)[keep],
        (close - rng.random(n) * 3 - 1)[keep],
        close[keep],
        (rng.random(n) * 10)[keep],
    )
    expected = _candles_through_aggregator(data, timeframe)
    got = aggregate(data, timeframe)
    assert len(expected) > 3
    assert [tuple(c)[3:] for c in expected] == list(
        zip(
            got.open_time.tolist(),
            got.open.tolist(),
            got.high.tolist(),
            got.low.tolist(),
            got.close.tolist(),
            got.volume.tolist(),
            strict=True,
        )
    )


def test_replay_decode_builds_what_the_smc_decoder_builds() -> None:
    """Every kernel event kind, from real data and from one synthetic record per kind."""
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    data = data.between(None, int(data.open_time[6000]))
    arrays = data.to_smc()
    times = data.open_time.tolist()
    rows: list[list[float]] = analyze(arrays, SMCConfig(swing_length=3)).events.tolist()
    for kind in range(K_SWING, K_PERIOD_BROKEN + 1):  # synthetic: ids, bars and codes in range
        for direction in (1.0, -1.0, 0.0, float("nan")):
            rows.append([float(kind), 17.0, 4.0, direction, 101.5, 99.25, 15.0, 1.0, 0.75, 0.5])
    kinds = {int(r[0]) for r in rows}
    assert kinds == set(range(K_SWING, K_PERIOD_BROKEN + 1))
    fast = decode_rows(np.asarray(rows), np.asarray(times, dtype=np.int64))
    slow = [decode_event(r, times[int(r[1])]) for r in rows]
    assert fast == slow
    assert [type(e) for e in fast] == [type(e) for e in slow]
    assert [repr(e) for e in fast] == [repr(e) for e in slow]
    with pytest.raises(ValueError, match="unknown kernel event kind"):
        decode_rows(np.asarray([[99.0, 0.0, 0, 1, 0, 0, 0, 0, 0, 0]]), np.asarray(times, dtype=np.int64))
    assert decode_rows(np.zeros((0, 10)), np.asarray(times, dtype=np.int64)) == []


def test_kernel_kinds_name_the_type_each_kernel_kind_decodes_to() -> None:
    times = list(range(0, 20 * 60_000, 60_000))
    decoded = {}
    for kind in range(K_SWING, K_PERIOD_BROKEN + 1):
        row = [float(kind), 17.0, 4.0, 1.0, 101.5, 99.25, 15.0, 1.0, 0.75, 0.5]
        decoded[kind] = type(decode_event(row, times[17]))
    assert {code: cls for cls, codes in KERNEL_KINDS.items() for code in codes} == decoded


@pytest.mark.parametrize(
    "kinds",
    [
        frozenset({StructureBroken}),
        frozenset({FVGFormed, FVGMitigated, OrderBlockFormed, SwingConfirmed, LiquiditySwept}),
        frozenset(KERNEL_KINDS),
    ],
)
def test_a_source_for_some_event_types_serves_the_full_events_of_those_types(kinds: frozenset[type]) -> None:
    """Replay and stream, bar by bar: the events of the asked types, in the full set's order."""
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    data = data.between(None, int(data.open_time[3000]))
    config = SMCConfig(swing_length=3)
    full, some = replay_source(data, config), replay_source(data, config, kinds)
    stream_full, stream_some = SMCStream(config), StreamSource(config, kinds)  # full: every concept
    served = 0
    for i in range(len(data)):
        candle = Candle(
            "binance",
            "BTC/USDT",
            "15m",
            int(data.open_time[i]),
            float(data.open[i]),
            float(data.high[i]),
            float(data.low[i]),
            float(data.close[i]),
            float(data.volume[i]),
        )
        want = [e for e in full.update(candle) if type(e) in kinds]
        assert some.update(candle) == want
        every = stream_full.update(
            candle.open, candle.high, candle.low, candle.close, candle.volume, candle.open_time
        )
        assert stream_some.update(candle) == [e for e in every if type(e) in kinds]
        served += len(want)
    assert served > 20


def test_every_event_type_names_the_concept_that_emits_it() -> None:
    assert set(CONCEPT_OF) == set(KERNEL_KINDS)
    assert set(CONCEPT_OF.values()) == ALL - {"sessions"}


_CLOSURE = {
    "swings": {"swings"},
    "structure": {"swings", "structure"},
    "order_blocks": {"swings", "structure", "order_blocks"},
    "liquidity": {"swings", "liquidity"},
    "fvg": {"fvg"},
    "periods": {"periods"},
    "sessions": {"sessions"},
}


@pytest.mark.parametrize(
    "concepts",
    [
        *(frozenset({c}) for c in sorted(ALL)),
        frozenset({"order_blocks", "fvg", "liquidity"}),  # the SMC strategy's base timeframe
        frozenset({"structure", "periods"}),
        frozenset(ALL - {"sessions"}),
        ALL,
    ],
)
@pytest.mark.parametrize(
    "config",
    [
        SMCConfig(swing_length=3),
        SMCConfig(
            swing_length=2,
            structure_break=BreakSource.WICK,
            ob_invalidation=BreakSource.WICK,
            fvg_join_consecutive=True,
            max_active=8,
        ),
    ],
    ids=["close", "wick_join_cap8"],
)
def test_event_log_of_some_concepts_is_the_full_log_of_their_kinds(
    concepts: frozenset[str], config: SMCConfig
) -> None:
    """What the replay computes instead of ``analyze``: the same rows, in the same order, on real data
    (tied highs and lows included) and on random data crossing days, weeks and months with gaps."""
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    data = data.between(None, int(data.open_time[5000]))
    real = data.to_smc()
    enabled = set().union(*(_CLOSURE[c] for c in concepts))
    codes = [
        code for kind, concept in CONCEPT_OF.items() if concept in enabled for code in KERNEL_KINDS[kind]
    ]
    for candles in (real, random_candles(7, 4000, tick=0.5, gap_hours=30)):
        full = analyze(candles, config).events
        want = full[np.isin(full[:, EV_KIND], codes)]
        got = event_log(candles, config, concepts)
        assert len(want) > 0 or concepts == {"sessions"}  # sessions emit no events
        np.testing.assert_array_equal(got, want)  # NaN fields in the same places
