"""Order routing follows the failover's active venue (two exchange simulators on loopback, real Redis
and PostgreSQL): after ``activate_failover('binance', 'bybit')`` new orders go to Bybit within a
second, the switch is logged with the word ``failover``, and the position left on Binance is flagged
stranded and listed in the status until it is closed there (reconciliation of Binance goes on); an exit
goes to the venue that holds what it reduces."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from smc_agent.control.failover import FailoverManager
from smc_agent.control.redis_kv import RedisKeyValueStore
from smc_agent.core.enums import OrderSide, OrderStatus
from smc_agent.core.events import Event
from smc_agent.live.codec import encode
from smc_agent.live.execution_service import ExecutionService
from smc_agent.live.streams import ORDERS_STREAM
from smc_agent.live.wiring import build_execution, close_execution
from smc_agent.store.control_repo import DbControlJournal
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, order, simulator_config, wait_for


def venue_client_ids(sim: ExchangeSimulator) -> set[str]:
    return {o.client_id for o in sim.state.book.orders.values()}


async def send_and_wait_filled(service: ExecutionService, cmd: object) -> None:
    await service.bus.publish(ORDERS_STREAM, encode(cmd))  # type: ignore[arg-type]
    cid = cmd.client_order_id  # type: ignore[attr-defined]

    def filled() -> bool:
        stored = service.gateway.repo.get(cid)
        return stored is not None and stored.status == OrderStatus.FILLED.value

    await wait_for(filled, 15, f"order {cid} to fill")


def with_bybit_backup(
    binance: ExchangeSimulator, bybit: ExchangeSimulator, db_url: str, redis_url: str
) -> tuple[ExecutionService, FailoverManager]:
    """The execution engine on Binance with Bybit as its backup venue, and the playbook's failover."""
    config = dataclasses.replace(
        execution_config(db_url, redis_url, binance), backup_venue="bybit", backup_venue_url=bybit.url
    )
    manager = FailoverManager(
        kv=RedisKeyValueStore(redis_url), journal=DbControlJournal(make_session_factory(make_engine(db_url)))
    )
    return build_execution(config), manager


async def test_new_orders_follow_the_active_venue_and_stranded_positions_are_kept(
    sim: ExchangeSimulator,
    migrated_pg_url: str,
    redis_pair: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ExchangeSimulator(simulator_config(venue="bybit")) as bybit:
        service, manager = with_bybit_backup(sim, bybit, migrated_pg_url, redis_pair[0])
        repo = service.gateway.repo
        try:
            await service.start()
            first = order(1, kind="market", qty="0.01")  # less its fee: whole lot steps
            await send_and_wait_filled(service, first)
            assert first.client_order_id in venue_client_ids(sim)
            held = repo.net_position("binance", "BTC/USDT")
            assert held > 0
            assert manager.status()["stranded_positions"] == []

            switched = time.monotonic()
            manager.activate_failover("binance", "bybit", reason="test", actor="pytest", source="test")
            router = service.gateway.router
            assert router is not None
            await wait_for(lambda: router.active == "bybit", 1.0, "the execution engine to see the failover")
            assert time.monotonic() - switched < 1.0
            assert "failover: order routing switched binance -> bybit" in caplog.text

            # the position left on Binance is flagged and listed, not forgotten
            (pos,) = [p for p in repo.positions() if p["exchange"] == "binance"]
            assert pos["stranded"] is True
            stranded = manager.status()["stranded_positions"]
            assert [(s["exchange"], s["symbol"]) for s in stranded] == [("binance", "BTC/USDT")]

            # a NEW order meant for Binance goes to Bybit; its events keep the engine's instrument
            seen: list[object] = []
            publish = service.gateway.publish

            async def spy(event: Event) -> None:
                seen.append(event)
                await publish(event)

            service.gateway.publish = spy
            second = order(2, kind="market", qty="0.01")
            await send_and_wait_filled(service, second)
            stored = repo.get(second.client_order_id)
            assert stored is not None and stored.exchange == "bybit"
            assert second.client_order_id in venue_client_ids(bybit)
            assert second.client_order_id not in venue_client_ids(sim)
            assert repo.net_position("bybit", "BTC/USDT") > 0
            mine = [e for e in seen if getattr(e, "client_order_id", None) == second.client_order_id]
            assert mine and {e.instrument_id for e in mine} == {second.instrument_id}  # type: ignore[attr-defined]

            # reconciliation of the old venue goes on, and closing the position there reconciles it
            assert await service.gateway.reconcile() == []
            close = dataclasses.replace(
                order(3, kind="market", side=OrderSide.SELL, qty=str(held)), reduce_only=True
            )
            await send_and_wait_filled(service, close)
            assert close.client_order_id in venue_client_ids(sim), (
                "a reduce-only exit goes to the position's venue"
            )
            assert repo.net_position("binance", "BTC/USDT") == 0
            assert not any(p["stranded"] for p in repo.positions())
            assert manager.status()["stranded_positions"] == []

            # the position opened on Bybit after the failover: the engine's exit still names its own
            # instrument (Binance, which holds nothing now); it is sent to Bybit, which holds it
            on_bybit = repo.net_position("bybit", "BTC/USDT")
            exit_backup = dataclasses.replace(
                order(4, kind="market", side=OrderSide.SELL, qty=str(on_bybit)), reduce_only=True
            )
            await send_and_wait_filled(service, exit_backup)
            assert exit_backup.client_order_id in venue_client_ids(bybit)
            assert exit_backup.client_order_id not in venue_client_ids(sim)
            assert repo.net_position("bybit", "BTC/USDT") == 0
        finally:
            await close_execution(service)


async def test_an_entry_waiting_to_be_sent_when_the_failover_lands_goes_to_the_new_venue(
    sim: ExchangeSimulator, migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    # Binance slows down (the reason to fail over) and a poll of it holds the send lock; an entry was
    # routed before it waited for the lock, and went to Binance after the failover was seen
    async with ExchangeSimulator(simulator_config(venue="bybit")) as bybit:
        service, manager = with_bybit_backup(sim, bybit, migrated_pg_url, redis_pair[0])
        await service.start()
        try:
            resting = order(1, price="30000", prefix="smc-r")  # a working order: the polls ask Binance
            assert await service.gateway.submit(resting) is not None
            sim.fault(slow_ms=1200)  # every Binance call takes 1.2 s
            await asyncio.sleep(0.6)  # a poll waits on Binance, the send lock held
            entry = order(2, kind="market", prefix="smc-e")
            sent = asyncio.get_running_loop().create_task(service.gateway.submit(entry))
            await asyncio.sleep(0.05)
            manager.activate_failover(
                "binance", "bybit", reason="binance slow", actor="pytest", source="test"
            )
            router = service.gateway.router
            assert router is not None
            await wait_for(lambda: router.active == "bybit", 2, "the execution engine to see the failover")
            await asyncio.wait_for(sent, 15)
            sim.fault(slow_ms=0)
            assert entry.client_order_id not in venue_client_ids(sim)
            assert entry.client_order_id in venue_client_ids(bybit)
        finally:
            await close_execution(service)
