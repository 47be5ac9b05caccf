"""Redis or PostgreSQL restarting under a running trading engine (the playbook restarts Redis): its
loops retry, no command is lost or overtaken, and the halt is still seen afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import redis
from sqlalchemy.engine import make_url

from smc_agent.control.redis_kv import RedisKeyValueStore
from smc_agent.control.trading import HALT_KEY, TradingControl
from smc_agent.core.enums import TradingState
from smc_agent.live.codec import decode, encode_candle
from smc_agent.live.strategies import STRATEGIES
from smc_agent.live.streams import CANDLES_STREAM, ORDERS_STREAM, MemoryStreamBus, RedisStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import build_execution, close_execution
from smc_agent.store.control_repo import DbControlJournal
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.trading_repo import TradingRepo
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, wait_for
from tests.live.proxy import Proxy
from tests.live.test_bot_lifecycle_and_denials import _bot, _candle, _user
from tests.live.test_restart_and_incidents import INSTRUMENT


def _service(url: str, redis_url: str, bus: object) -> TradingService:
    factory = make_session_factory(make_engine(url))
    control = TradingControl(kv=RedisKeyValueStore(redis_url), journal=DbControlJournal(factory))
    service = TradingService(
        bus=bus,  # type: ignore[arg-type]
        repo=TradingRepo(factory),
        control=control,
        instruments=[INSTRUMENT],
        strategies=STRATEGIES,
        bot_refresh_s=0.2,
    )
    service.retry_pause_s = 0.1
    return service


async def _until(predicate: object, timeout: float) -> bool:
    for _ in range(int(timeout / 0.05)):
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())  # type: ignore[operator]


async def test_the_trading_engine_hears_candles_again_after_redis_restarts(
    migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    # the candles and order events reach the trading engine through Redis streams: its loops died with
    # the first connection error, leaving a running process that never traded or heard a fill again
    proxy = Proxy(int(make_url(redis_pair[0]).port or 6379))
    through = redis_pair[0].replace(f":{make_url(redis_pair[0]).port}/", f":{proxy.port}/")
    repo = TradingRepo(make_session_factory(make_engine(migrated_pg_url)))
    _bot(repo, _user(migrated_pg_url, "owner"))
    bus = RedisStreamBus(through)
    service = _service(migrated_pg_url, through, bus)
    pipeline = RedisStreamBus(redis_pair[0])  # the data pipeline, on its own connection
    await service.start()
    try:
        await pipeline.publish(CANDLES_STREAM, encode_candle(_candle(0)))
        assert await _until(lambda: service.candles_seen == 1, 5)
        proxy.down()  # Redis restarts
        await asyncio.sleep(1.0)
        proxy.up()
        for i in range(1, 4):
            await pipeline.publish(CANDLES_STREAM, encode_candle(_candle(i)))
        assert await _until(lambda: service.candles_seen == 4, 10), [
            (t.get_name(), t.done()) for t in service._tasks
        ]
        assert not any(t.done() for t in service._tasks)
    finally:
        await service.stop()
        proxy.down()
        await bus.close()
        await pipeline.close()


async def test_the_halt_is_seen_after_the_database_restarts(
    migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    # the trading engine's watch of the halt read the database's latch and died with it
    proxy = Proxy(int(make_url(migrated_pg_url).port or 5432))
    through = make_url(migrated_pg_url).set(port=proxy.port).render_as_string(hide_password=False)
    service = _service(through, redis_pair[0], MemoryStreamBus())
    await service.start()
    try:
        proxy.down()  # PostgreSQL restarts
        await asyncio.sleep(1.0)
        proxy.up()
        redis.Redis.from_url(redis_pair[0]).set(HALT_KEY, "true")
        assert await _until(lambda: service.engine.state is TradingState.HALTED, 10)
    finally:
        await service.stop()
        proxy.down()


class _Flaky(MemoryStreamBus):
    """A stream store that refuses writes while ``down``."""

    down = False

    async def publish(self, stream: str, fields: Mapping[str, str]) -> str:
        if self.down:
            raise ConnectionError("stream store down")
        return await super().publish(stream, fields)


async def test_commands_the_stream_store_refused_go_out_later_in_order(
    migrated_sqlite_url: str, redis_pair: tuple[str, str]
) -> None:
    # flush took the whole outbox, then published: a write the store refused lost that command and
    # every one after it (a stop-loss among them)
    bus = _Flaky()
    repo = TradingRepo(make_session_factory(make_engine(migrated_sqlite_url)))
    _bot(repo, _user(migrated_sqlite_url, "owner"))  # the drill bot: an order on every candle
    service = _service(migrated_sqlite_url, redis_pair[0], bus)
    await service.start()
    try:
        bus.down = True
        for i in range(3):
            await bus_candle(service, i)
        assert service._unsent and all(not t.done() for t in service._tasks)
        bus.down = False
        assert await _until(lambda: not service._unsent, 5)
        sent = [
            decode(f)
            for _, f in await bus.consumer(ORDERS_STREAM, group="x", name="x").read(count=100, block_ms=0)
        ]
        ids = [getattr(c, "client_order_id", None) for c in sent]
        orders = [o.client_order_id for o in service.engine.orders.orders.values()]
        assert len(ids) == len(set(ids)) == len(orders) == 3 and ids == orders  # all, once, in order
    finally:
        await service.stop()


async def bus_candle(service: TradingService, i: int) -> None:
    with contextlib.suppress(ConnectionError):  # applied; its command waits in line
        await service.on_candle(_candle(i))


async def test_an_outage_of_redis_and_the_database_stays_halted_until_released(
    migrated_pg_url: str, redis_pair: tuple[str, str], sim: ExchangeSimulator
) -> None:
    # the halt the outage raised could not be latched (the database was down too) and was never tried
    # again: when both came back, the guard found no latch and resumed trading by itself
    redis_proxy = Proxy(int(make_url(redis_pair[0]).port or 6379))
    pg_proxy = Proxy(int(make_url(migrated_pg_url).port or 5432))
    redis_url = redis_pair[0].replace(f":{make_url(redis_pair[0]).port}/", f":{redis_proxy.port}/")
    db_url = make_url(migrated_pg_url).set(port=pg_proxy.port).render_as_string(hide_password=False)
    service = build_execution(execution_config(db_url, redis_url, sim))
    await service.start()
    gw = service.gateway
    try:
        await wait_for(lambda: not gw.halted, 10, "the execution engine to trade")
        redis_proxy.down()
        pg_proxy.down()
        await wait_for(lambda: gw.halted, 10, "the fail-closed halt")
        await asyncio.sleep(0.5)
        redis_proxy.up()
        pg_proxy.up()
        journal = gw.control.journal
        await wait_for(lambda: _latched(journal), 15, "the outage's halt latched in the database")
        await asyncio.sleep(1.5)  # several guard ticks with both stores answering
        assert gw.halted and gw.control.observe().state is TradingState.HALTED
        gw.control.request_release(reason="outage reviewed", actor="ops", source="cli")
        await wait_for(lambda: not gw.halted, 15, "the operator's release")
    finally:
        await close_execution(service)
        redis_proxy.down()
        pg_proxy.down()


def _latched(journal: object) -> bool:
    try:
        latch = journal.read_latch()  # type: ignore[attr-defined]
    except Exception:
        return False
    return latch is not None and latch.source == "fail-closed" and latch.status == "halted"
