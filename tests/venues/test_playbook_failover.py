"""The playbook's one-line failover, run in a separate process, switches a running candle pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import time
from pathlib import Path

from sqlalchemy import select

from smc_agent.bootstrap import Container
from smc_agent.core.candle import Candle
from smc_agent.marketdata.stream import LiveCandleStream
from smc_agent.settings import load_settings
from smc_agent.store.migrate import upgrade
from smc_agent.store.models import FailoverEvent
from smc_agent.venues.client import make_client
from smc_agent.venues.failover import FailoverStatePort
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator, Feed, SimulatorConfig
from tests.venues.simkit import synthetic_bars

PLAYBOOK = (
    "from data_pipeline.exchange_connectors.failover_manager import FailoverManager\n"
    "fm = FailoverManager()\n"
    "fm.activate_failover('binance', 'bybit')\n"
)


async def test_playbook_failover_from_another_process_switches_the_pipeline(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'smc_trading.db'}"
    upgrade(db_url)
    container = Container(load_settings(database_url=db_url, data_dir=tmp_path))
    state = container.failover
    assert isinstance(state, FailoverStatePort)
    feed = Feed("BTCUSDT", "1m", synthetic_bars(600))
    anchor = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
    async with contextlib.AsyncExitStack() as stack:
        sims = {}
        for venue in ("binance", "bybit"):
            config = SimulatorConfig(venue=venue, feeds=(feed,), start_index=50, anchor_ms=anchor)
            sims[venue] = await stack.enter_async_context(ExchangeSimulator(config))
        gateways = {v: CcxtGateway(make_client(v, base_url=s.url), venue=v) for v, s in sims.items()}
        for gw in gateways.values():
            stack.push_async_callback(gw.close)
        stream = LiveCandleStream(
            lambda: gateways[state.active_venue()],
            "BTC/USDT",
            "1m",
            start_after_ms=anchor - 5 * 60_000,
            poll_interval_s=0.1,
        )

        async def drive() -> None:
            while True:
                await asyncio.sleep(0.1)
                for sim in sims.values():
                    sim.step(1)

        driver = asyncio.create_task(drive())
        received: list[Candle] = []
        playbook: asyncio.subprocess.Process | None = None
        marks: dict[str, float] = {}
        try:
            async with asyncio.timeout(90):
                async for candle in stream.candles():
                    received.append(candle)
                    if playbook is None and len(received) >= 8:
                        env = {**os.environ, "SMC_DATABASE_URL": db_url, "SMC_DATA_DIR": str(tmp_path)}
                        playbook = await asyncio.create_subprocess_exec(
                            sys.executable,
                            "-c",
                            PLAYBOOK,
                            env=env,
                            stdout=asyncio.subprocess.PIPE,
                            stderr=asyncio.subprocess.STDOUT,
                        )
                        waiter = asyncio.create_task(playbook.communicate())
                        waiter.add_done_callback(
                            lambda _: marks.setdefault("playbook_done", time.monotonic())
                        )
                    if candle.venue == "bybit":
                        marks.setdefault("first_bybit", time.monotonic())
                    if sum(c.venue == "bybit" for c in received) >= 5:
                        break
        finally:
            driver.cancel()
        output = (await waiter)[0].decode()
    assert playbook is not None and playbook.returncode == 0, output
    assert "failover" in output.lower()
    # the running pipeline followed within seconds of the command's write
    assert marks["first_bybit"] - marks["playbook_done"] < 5
    times = [c.open_time for c in received]
    assert all(b - a == 60_000 for a, b in itertools.pairwise(times)), "gap or duplicate"
    assert stream.switches == 1
    status = state.status()
    assert status["active_venue"] == "bybit" and status["failover_active"] is True
    with container.session_factory() as session:
        events = session.scalars(select(FailoverEvent)).all()
    assert [(e.from_venue, e.to_venue) for e in events] == [("binance", "bybit")]
    container.close()
