"""``smc-agent run``/``demo`` run every role in one process: while they run, the status finds the
heartbeat of each (execution engine, trading engine, data pipeline) and says ok."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smc_agent.bootstrap import Container
from smc_agent.live.allinone import AllInOne
from smc_agent.live.market_source import synthetic_bars
from smc_agent.ops.status import system_status
from smc_agent.settings import Settings


async def test_all_in_one_reports_every_component_alive(migrated_sqlite_url: str, tmp_path: Path) -> None:
    runtime = AllInOne(database_url=migrated_sqlite_url, bars=synthetic_bars(1_200), speed=600.0)
    container = Container(Settings(database_url=migrated_sqlite_url, data_dir=tmp_path))
    await runtime.start()
    try:
        await asyncio.sleep(1.5)  # every loop has run once
        status = await asyncio.to_thread(system_status, container)
        comps = status["components"]
        assert {"engine", "trading_engine", "data_pipeline"} <= set(comps)
        assert all(v["ok"] for v in comps.values()), comps
        assert status["status"] == "ok", status
    finally:
        await runtime.stop()
        container.close()
