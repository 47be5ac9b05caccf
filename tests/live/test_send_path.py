"""The order gateway's send path: the halt check stays the last thing before the venue call, a send that
never left is rejected at once, and an order waiting for a late request is not rejected meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from decimal import Decimal
from typing import Any

import redis
from sqlalchemy import update

from smc_agent.core.enums import OrderStatus
from smc_agent.live.streams import MemoryStreamBus
from smc_agent.live.wiring import build_execution, close_execution
from smc_agent.store.db import transaction
from smc_agent.store.models import Order
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, order


async def test_a_halt_set_while_the_send_stamp_waits_on_the_database_is_honoured(
    sim: ExchangeSimulator, migrated_sqlite_url: str, redis_pair: tuple[str, str]
) -> None:
    """The send-time stamp (a database write) came after the last halt check: a database busy for 2 s
    delayed the venue call by 2 s after the check, and a halt set meanwhile was not seen."""
    REDIS_URL = redis_pair[0]
    r = redis.Redis.from_url(REDIS_URL)
    r.delete("emergency_halt")
    placed: list[tuple[str, float]] = []
    book = sim.state.book
    original = book.place

    def place(**kwargs: Any) -> Any:
        placed.append((kwargs["client_id"], time.time()))
        return original(**kwargs)

    book.place = place  # type: ignore[method-assign]
    service = build_execution(execution_config(migrated_sqlite_url, REDIS_URL, sim), bus=MemoryStreamBus())
    repo = service.gateway.repo
    path = migrated_sqlite_url.removeprefix("sqlite:///")
    halt_set_at: list[float] = []
    real_intent = repo.record_intent

    def locker() -> None:  # another writer (API, report job) holds the database for 2 s
        conn = sqlite3.connect(path, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(0.3)
        r.set("emergency_halt", "1")  # an operator halts meanwhile
        halt_set_at.append(time.time())
        time.sleep(2.0)
        conn.rollback()
        conn.close()

    def intent_then_busy(*a: Any, **k: Any) -> bool:
        ok = real_intent(*a, **k)
        t = threading.Thread(target=locker)
        t.start()
        time.sleep(0.05)  # the other writer has the lock
        return ok

    try:
        await service.start()
        repo.record_intent = intent_then_busy  # type: ignore[method-assign]
        cmd = order(1, kind="market")
        await service.gateway.submit(cmd)
        await asyncio.sleep(0.5)
        assert halt_set_at, "halt was set"
        sent_after_halt = [(cid, t - halt_set_at[0]) for cid, t in placed if t > halt_set_at[0]]
        assert sent_after_halt == [], f"entry reached the venue after the halt was set: {sent_after_halt}"
    finally:
        r.delete("emergency_halt")
        await close_execution(service)


async def test_a_stop_loss_whose_pre_send_price_check_failed_is_rejected_at_once(
    migrated_sqlite_url: str,
) -> None:
    """Bybit: a stop-loss's pre-send ticker read gets a 503; nothing was sent, but it was taken for a
    lost acknowledgement: INITIALIZED and unconfirmed for 15 s, no OrderRejected, so the engine neither
    knew the position was unprotected nor closed it."""
    import dataclasses

    from smc_agent.core.commands import SubmitOrder
    from smc_agent.core.enums import OrderSide, OrderType
    from smc_agent.core.events import OrderRejected
    from smc_agent.core.ids import ClientOrderId, InstrumentId
    from tests.live.conftest import simulator_config

    async with ExchangeSimulator(simulator_config(venue="bybit")) as sim:
        placed: list[str] = []
        original = sim.state.book.place

        def place(**kwargs: Any) -> Any:
            placed.append(kwargs["client_id"])
            return original(**kwargs)

        sim.state.book.place = place  # type: ignore[method-assign]
        config = dataclasses.replace(execution_config(migrated_sqlite_url, None, sim), venue="bybit")
        service = build_execution(config, bus=MemoryStreamBus())
        events: list[object] = []
        real_publish = service.gateway.publish

        async def publish(e: object) -> None:
            events.append(e)
            await real_publish(e)  # type: ignore[arg-type]

        service.gateway.publish = publish  # type: ignore[assignment]
        try:
            await service.start()
            last = sim.state.last_price("BTCUSDT")
            now = int(time.time() * 1000)
            stop = SubmitOrder(
                ts_event=now,
                ts_init=now,
                strategy_id=order(1).strategy_id,
                instrument_id=InstrumentId("bybit", "BTC/USDT"),
                client_order_id=ClientOrderId("smc-t-00000001-sl"),
                side=OrderSide.SELL,
                order_type=OrderType.STOP_MARKET,
                qty=Decimal("0.001"),
                trigger_price=(last * Decimal("0.9")).quantize(Decimal("0.01")),
                reduce_only=True,
            )
            sim.fault(errors_5xx=1)  # the ticker read before the send
            started = time.monotonic()
            await service.gateway.submit(stop)
            stored = service.gateway.repo.get(stop.client_order_id)
            assert [e.client_order_id for e in events if isinstance(e, OrderRejected)] == [
                stop.client_order_id
            ]
            assert time.monotonic() - started < 5
            assert placed == []
            assert stored is not None and stored.status == OrderStatus.REJECTED.value, (
                f"nothing was sent, yet the stop-loss is {stored.status if stored else None} and waits "
                f"{service.gateway.late_ack_window_s} s"
            )
        finally:
            await close_execution(service)


async def test_a_redelivered_command_leaves_an_unconfirmed_order_waiting(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    """The acknowledgement was lost and the venue does not know the order yet: it is in _unconfirmed
    for 15 s. Its row has no send time (written by a version that did not stamp it). The same command
    delivered again went through _refresh_one, which read that as 'never sent' and rejected it at
    once, inside the window the gateway itself was still waiting out (a late request then fills an
    order the engine was told was rejected)."""
    import ccxt

    service = build_execution(execution_config(migrated_sqlite_url, None, sim), bus=MemoryStreamBus())
    gw = service.gateway
    try:
        await service.start()
        venue = gw.venues["binance"]
        real_create = venue.exchange.create_order

        async def in_flight(*a: Any, **k: Any) -> Any:  # the request is on its way; the answer is lost
            venue.exchange.create_order = real_create
            raise ccxt.NetworkError("connection reset")

        venue.exchange.create_order = in_flight
        cmd = order(1, kind="market")
        await gw.submit(cmd)
        assert cmd.client_order_id in gw._unconfirmed
        with transaction(gw.repo._factory) as session:  # a row without its send time
            session.execute(update(Order).values(submitted_at=None))
        await gw.submit(cmd)  # stream redelivery of the same command, 0.x s later
        stored = gw.repo.get(cmd.client_order_id)
        assert stored.status == OrderStatus.INITIALIZED.value, (
            f"rejected {stored.status} at once while the gateway still waits for a late request"
        )
    finally:
        await close_execution(service)
