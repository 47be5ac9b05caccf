"""``smc-agent demo``: the whole system on the embedded default, paper-trading SMC on replayed candles.

Creates (once) a demo user and a running SMC bot, replays candles through the exchange simulator
(cached/downloaded Binance data, or the synthetic market offline), runs data pipeline, trading
engine, execution engine and, if available, the API/dashboard in one process, and stops cleanly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.live.allinone import AllInOne
from smc_agent.live.incidents import IncidentHook
from smc_agent.live.market_source import demo_bars
from smc_agent.live.streams import MemoryStreamBus
from smc_agent.logs import get_logger
from smc_agent.store import migrate
from smc_agent.store.db import transaction
from smc_agent.store.models import User
from smc_agent.store.trading_repo import TradingRepo
from smc_agent.store.users import create_user

log = get_logger("smc_agent.live.demo")

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a local paper-trading demo account, printed to the user
DEMO_BOT = "demo-smc"
Progress = Callable[[float, dict[str, Any]], None]


@dataclass(frozen=True)
class DemoResult:
    source: str
    api_url: str | None
    candles: int
    orders: int
    fills: int
    position: str
    state: str


def ensure_demo_user_and_bot(factory: sessionmaker[Session]) -> tuple[str, str]:
    with transaction(factory) as session:
        user = session.scalar(select(User).where(User.username == DEMO_USER))
        if user is None:
            user = create_user(session, username=DEMO_USER, password=DEMO_PASSWORD, role="trader")
        user_id = user.id
    repo = TradingRepo(factory)
    for bot in repo.bots():
        if bot["name"] == DEMO_BOT:
            if bot["state"] != "running":
                repo.set_bot_state(bot["id"], "running", "demo start")
            return user_id, str(bot["id"])
    bot_id = repo.create_bot(
        user_id=user_id,
        name=DEMO_BOT,
        strategy="smc_fast",
        venue="binance",
        symbols=["BTC/USDT"],
        timeframes=["1m"],
        parameters={"swing_length": 3, "htf_swing_length": 3, "min_risk": 0.001, "max_zone_age": 500},
    )
    return user_id, bot_id


async def run_demo(
    *,
    database_url: str,
    session_factory: sessionmaker[Session],
    cache_dir: Path,
    duration_s: float,
    port: int,
    offline: bool,
    speed: float,
    api_app: Any = None,
    progress: Progress | None = None,
    started: Callable[[AllInOne, str], None] | None = None,
    ensure_demo: bool = True,
    on_incident: IncidentHook | None = None,
    workers: Any = None,
    streams: MemoryStreamBus | None = None,
) -> DemoResult:
    """Run everything in one process for ``duration_s`` (``inf``: until cancelled); ``api_app`` is an
    ASGI app served next to the engines (built by the caller: the CLI owns the API); ``workers``
    (``start()``/``stop()``, the ops workers: outbox dispatcher, escalation, incident watcher) run
    while the engines do; ``streams``: the in-process bus, the one ``api_app`` relays to /ws."""
    url = database_url
    await asyncio.to_thread(migrate.upgrade, url)
    if ensure_demo:
        ensure_demo_user_and_bot(session_factory)
    bars, source = await demo_bars(cache_dir, offline=offline)
    runtime = AllInOne(
        database_url=url,
        bars=bars,
        speed=speed,
        api_app=api_app,
        api_port=port,
        on_incident=on_incident,
        streams=streams or MemoryStreamBus(),
    )
    await runtime.start()
    if workers is not None:
        workers.start()
    if started is not None:
        started(runtime, source)
    begin = time.monotonic()
    try:
        while (elapsed := time.monotonic() - begin) < duration_s:
            if progress is not None:
                progress(elapsed, _figures(runtime))
            await asyncio.sleep(0.25)
    finally:
        await runtime.stop()
        if workers is not None:
            await asyncio.to_thread(workers.stop)
    figures = _figures(runtime)
    if progress is not None:
        progress(duration_s, figures)
    return DemoResult(
        source=source,
        api_url=runtime.api_url,
        candles=int(figures["candles"]),
        orders=int(figures["orders"]),
        fills=int(figures["fills"]),
        position=str(figures["position"]),
        state=str(figures["state"]),
    )


def _figures(runtime: AllInOne) -> dict[str, Any]:
    trading, execution = runtime.trading, runtime.execution
    if trading is None or execution is None:
        return {"candles": 0, "orders": 0, "fills": 0, "position": "0", "state": "starting"}
    repo = execution.gateway.repo
    orders = repo.all_orders()
    return {
        "candles": trading.candles_seen,
        "orders": len(orders),
        "fills": sum(1 for o in orders if o.filled_quantity > 0),
        "position": str(repo.net_position("binance", "BTC/USDT")),
        "state": "halted" if execution.gateway.halted else "active",
    }
