"""The SQL candle store on SQLite and on the real PostgreSQL server (migrated schema)."""

from __future__ import annotations

import pytest

from smc_agent.core.candle import Candle
from smc_agent.core.ids import InstrumentId
from smc_agent.core.ports import MarketDataPort
from smc_agent.marketdata.history import StoredMarketData
from smc_agent.marketdata.store import CandleStore, SqlCandleStore
from smc_agent.store.db import make_engine, make_session_factory

M = 60_000


def _candles(venue: str, n: int, start: int = 1_704_067_200_000) -> list[Candle]:
    return [
        Candle(venue, "BTC/USDT", "1m", start + i * M, 100.0 + i, 101.5 + i, 99.25 + i, 100.5 + i, 0.125 * i)
        for i in range(n)
    ]


def _exercise(store: CandleStore) -> None:
    first = _candles("binance", 10)
    assert store.put(first) == 10
    assert store.put(first[5:] + _candles("binance", 3, start=first[-1].open_time + M)) == 3  # only new rows
    assert store.put(_candles("bybit", 2)) == 2  # keyed by venue too
    got = store.get(
        "binance", "BTC/USDT", "1m", start_ms=first[0].open_time, end_ms=first[0].open_time + 13 * M
    )
    assert [c.open_time for c in got] == [first[0].open_time + i * M for i in range(13)]
    assert got[:10] == first  # exact values back (Decimal columns, no float drift)
    assert store.latest_open_time("binance", "BTC/USDT", "1m") == first[0].open_time + 12 * M
    assert store.latest_open_time("binance", "ETH/USDT", "1m") is None


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_candle_store(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("migrated_sqlite_url" if backend == "sqlite" else "migrated_pg_url")
    engine = make_engine(url)
    try:
        store = SqlCandleStore(make_session_factory(engine))
        assert isinstance(store, CandleStore)
        _exercise(store)
    finally:
        engine.dispose()


async def test_stored_market_data_is_a_market_data_port(migrated_sqlite_url: str) -> None:
    engine = make_engine(migrated_sqlite_url)
    try:
        store = SqlCandleStore(make_session_factory(engine))
        port = StoredMarketData(store)
        assert isinstance(port, MarketDataPort)
        iid = InstrumentId("binance", "BTC/USDT")
        assert await port.latest(iid, "1m") is None
        candles = _candles("binance", 5)
        store.put(candles)
        assert await port.latest(iid, "1m") == candles[-1]
        got = await port.history(iid, "1m", start_ms=candles[1].open_time, end_ms=candles[3].open_time)
        assert got == candles[1:3]
    finally:
        engine.dispose()
