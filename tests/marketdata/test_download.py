"""Paginated download into the candle store, from the simulator through the ccxt gateway, with resume."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.candle import Candle
from smc_agent.core.errors import VenueUnavailable
from smc_agent.core.ids import InstrumentId
from smc_agent.marketdata.download import CandleDownloader
from smc_agent.marketdata.store import SqlCandleStore
from smc_agent.venues.client import make_client
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator, Feed, SimulatorConfig, load_bars
from tests._shared import shared_file
from tests.venues.simkit import sim_config

M = 60_000


class Interrupted(CcxtGateway):
    """A gateway whose connection dies after ``pages`` successful pages (a killed download)."""

    def __init__(self, gateway: CcxtGateway, pages: int) -> None:
        super().__init__(gateway.exchange, venue=gateway.venue)
        self.pages_left = pages

    async def fetch_candles(
        self,
        instrument_id: InstrumentId,
        timeframe: str,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Candle]:
        if self.pages_left == 0:
            raise VenueUnavailable("connection lost (test)")
        self.pages_left -= 1
        return await super().fetch_candles(instrument_id, timeframe, since_ms=since_ms, limit=limit)


@pytest.mark.parametrize("venue", ["binance", "bybit"])
async def test_download_is_paginated_and_resumes_after_interruption(
    venue: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    async with ExchangeSimulator(sim_config(venue, n=1300, start_index=1200)) as sim:
        feed = sim.state.feeds["BTCUSDT"]
        since = sim.state.to_visible(feed.bars[100].open_time)
        until = sim.state.to_visible(feed.bars[1100].open_time)  # 1000 candles
        store = SqlCandleStore(session_factory)
        gateway = CcxtGateway(make_client(venue, base_url=sim.url), venue=venue)
        try:
            first = CandleDownloader(Interrupted(gateway, pages=3), store, state_dir=tmp_path, page_size=150)
            with pytest.raises(VenueUnavailable):
                await first.download("BTC/USDT", "1m", since_ms=since, until_ms=until)
            assert len(store.get(venue, "BTC/USDT", "1m", start_ms=since, end_ms=until)) == 450
            requests_before = sim.state.requests.total()
            seen: list[int] = []
            second = CandleDownloader(gateway, store, state_dir=tmp_path, page_size=150)
            result = await second.download(
                "BTC/USDT",
                "1m",
                since_ms=since,
                until_ms=until,
                progress=lambda done, total: seen.append(done),
            )
        finally:
            await gateway.close()
        assert result.complete and result.stored == 1000 and result.pages == 7  # 3 before + 4 resumed
        assert sim.state.requests.total() - requests_before <= 4 + 2  # the resumed pages (+ markets)
        assert seen == sorted(seen) and seen[-1] == until - since
        stored = store.get(venue, "BTC/USDT", "1m", start_ms=since, end_ms=until)
        assert [c.open_time for c in stored] == list(range(since, until, M))
        assert [c.close for c in stored[:3]] == [float(b.close) for b in feed.bars[100:103]]
        state = json.loads(first.state_path("BTC/USDT", "1m", since, until).read_text())
        assert state["complete"] is True and state["cursor"] == until
        # downloading again stores nothing new
        again = CandleDownloader(
            CcxtGateway(make_client(venue, base_url=sim.url), venue=venue),
            store,
            state_dir=tmp_path / "fresh",
            page_size=1000,
        )
        try:
            assert (await again.download("BTC/USDT", "1m", since_ms=since, until_ms=until)).stored == 0
        finally:
            await again.source.exchange.close()  # type: ignore[attr-defined]


async def test_download_rejects_an_empty_range(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    gateway = CcxtGateway(make_client("binance"), venue="binance")
    downloader = CandleDownloader(gateway, SqlCandleStore(session_factory), state_dir=tmp_path)
    try:
        with pytest.raises(ValueError, match="--until"):
            await downloader.download("BTC/USDT", "1m", since_ms=10, until_ms=10)
    finally:
        await gateway.close()


async def test_feb_2018_outage_candles_are_repaired_on_download_and_every_repair_logged(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = shared_file("ohlcv", "binance_2017_2020", "binance_spot_BTCUSDT_1h.csv")
    feed = Feed("BTCUSDT", "1h", load_bars(path))
    config = SimulatorConfig(venue="binance", feeds=(feed,), start_index=5000, restamp=False)
    since, until = 1_517_961_600_000, 1_518_393_600_000  # 2018-02-07 00:00 .. 2018-02-12 00:00
    async with ExchangeSimulator(config) as sim:
        gateway = CcxtGateway(make_client("binance", base_url=sim.url), venue="binance")
        store = SqlCandleStore(session_factory)
        try:
            # a state directory not made yet (the default data_dir/downloads on a first run): the first
            # page's repairs were logged before any state was saved, and the download crashed
            downloader = CandleDownloader(gateway, store, state_dir=tmp_path / "downloads", page_size=50)
            result = await downloader.download("BTC/USDT", "1h", since_ms=since, until_ms=until)
        finally:
            await gateway.close()
    stored = store.get("binance", "BTC/USDT", "1h", start_ms=since, end_ms=until)
    assert all(c.open_time % 3_600_000 == 0 for c in stored)
    log = downloader.state_path("BTC/USDT", "1h", since, until).with_suffix(".repairs.jsonl")
    repairs = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [r["kind"] for r in repairs]
    assert kinds.count("off_grid") == 43 and kinds.count("gap") == 1
    assert result.repairs == len(repairs)
    assert len(stored) == 120 - 32  # five days of hours, less the 32 lost in the outage
