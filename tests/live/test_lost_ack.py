"""A lost create-order acknowledgement is resolved by asking the venue by client id, never by resending."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus
from smc_agent.core.errors import VenueUnavailable
from smc_agent.core.ids import InstrumentId
from smc_agent.live.codec import encode
from smc_agent.live.streams import ORDERS_STREAM
from smc_agent.live.wiring import build_execution, build_venue, close_execution
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, order, wait_for


def count_placements(sim: ExchangeSimulator) -> list[str]:
    """Record every client id the simulator's book is asked to place (observation only)."""
    seen: list[str] = []
    book = sim.state.book
    original = book.place

    def place(**kwargs: Any) -> Any:
        seen.append(kwargs["client_id"])
        return original(**kwargs)

    book.place = place  # type: ignore[method-assign]
    return seen


async def test_lost_ack_found_by_client_id_not_resent(
    sim: ExchangeSimulator, migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    placed = count_placements(sim)
    service = build_execution(execution_config(migrated_pg_url, redis_pair[0], sim))
    try:
        await service.start()
        sim.fault(lost_acks=1, lost_ack_hang_s=4.0)
        cmd = order(1, kind="market")
        await service.bus.publish(ORDERS_STREAM, encode(cmd))
        repo = service.gateway.repo

        def filled() -> bool:
            stored = repo.get(cmd.client_order_id)
            return stored is not None and stored.status == OrderStatus.FILLED.value

        await wait_for(filled, 20, "the order to be resolved as filled")
        assert placed == [cmd.client_order_id], "the order must reach the venue exactly once"
        stored = repo.get(cmd.client_order_id)
        assert stored is not None and stored.venue_order_id is not None
        venue_orders = [o for o in sim.state.book.orders.values() if o.client_id == cmd.client_order_id]
        assert len(venue_orders) == 1 and str(venue_orders[0].order_id) == stored.venue_order_id
        (trade,) = venue_orders[0].trades  # held: bought less the fee paid in the coin
        assert repo.net_position("binance", "BTC/USDT") == venue_orders[0].filled - trade.fee > 0
        # the same command delivered again (stream redelivery) is recognised and not resent
        await service.handle(encode(cmd))
        assert placed == [cmd.client_order_id]
    finally:
        await close_execution(service)


async def test_a_database_error_on_the_write_ahead_is_retried_not_the_end_of_the_order_stream(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    """The database refuses the intent's write (it is down for a moment): the command used to end the
    consumer task, and no later order was ever sent. It is retried until written, then sent once, and
    the orders after it follow."""
    placed = count_placements(sim)
    service = build_execution(execution_config(migrated_sqlite_url, None, sim, retry_pause_s=0.05))
    repo = service.gateway.repo
    real = repo.record_intents
    failures = [OperationalError("INSERT", {}, Exception("server closed the connection"))] * 3

    def flaky(*args: Any, **kwargs: Any) -> bool:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    repo.record_intents = flaky  # type: ignore[method-assign]
    try:
        await service.start()
        first, second = order(1, kind="market"), order(2, kind="market")
        for cmd in (first, second):
            await service.bus.publish(ORDERS_STREAM, encode(cmd))
        await wait_for(lambda: service.handled == 2, 10, "both commands handled")
        assert placed == [first.client_order_id, second.client_order_id]  # in order, each once
        for cmd in (first, second):
            stored = repo.get(cmd.client_order_id)
            assert stored is not None and stored.status == OrderStatus.FILLED.value
    finally:
        await close_execution(service)


async def test_a_cancel_the_venue_does_not_answer_is_sent_again_until_it_is(
    sim: ExchangeSimulator, migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    """A cancel lost to HTTP 503s was logged as settled by reconciliation, which it is not: the order
    simply stayed open (a trimmed entry's rest kept filling, its filled part without a stop)."""
    service = build_execution(execution_config(migrated_pg_url, redis_pair[0], sim))
    try:
        await service.start()
        below = (sim.state.last_price("BTCUSDT") * Decimal("0.95")).quantize(Decimal("0.01"))
        resting = order(2, price=str(below))  # below the market: it rests
        await service.bus.publish(ORDERS_STREAM, encode(resting))
        repo = service.gateway.repo

        def status() -> str | None:
            stored = repo.get(resting.client_order_id)
            return None if stored is None else stored.status

        await wait_for(lambda: status() == OrderStatus.ACCEPTED.value, 20, "the order to rest")
        sim.fault(errors_5xx=3)
        cancel = CancelOrder(
            ts_event=0,
            ts_init=0,
            strategy_id=resting.strategy_id,
            instrument_id=resting.instrument_id,
            client_order_id=resting.client_order_id,
        )
        await service.handle(encode(cancel))
        stored = repo.get(resting.client_order_id)
        assert stored is not None and stored.status == OrderStatus.ACCEPTED.value and stored.cancel_requested
        await wait_for(
            lambda: status() == OrderStatus.CANCELED.value, 20, "the cancel to be sent again, and done"
        )
        assert repo.cancels_pending() == []
        assert [
            o for o in sim.state.book.open_orders("BTCUSDT") if o.client_id == resting.client_order_id
        ] == []
    finally:
        await close_execution(service)


@pytest.mark.parametrize("arrives", [True, False])
async def test_an_order_the_venue_places_after_our_timeout_is_found_not_rejected(
    sim: ExchangeSimulator, migrated_sqlite_url: str, arrives: bool
) -> None:
    """The venue took the request after the client gave up on it (a timeout leaves the outcome
    unknown) and was asked too early: the order was marked rejected while it filled at the venue, a
    position nobody tracked. It is asked again until the venue's receive window has passed."""
    service = build_execution(execution_config(migrated_sqlite_url, None, sim))
    gw = service.gateway
    gw.late_ack_window_s = 1.5
    venue = gw.venues["binance"]
    real_submit = venue.submit_order

    async def late(command: Any) -> Any:
        async def reach_the_venue() -> None:
            await asyncio.sleep(0.4)
            await real_submit(command)

        if arrives:
            asyncio.get_running_loop().create_task(reach_the_venue())
        raise VenueUnavailable("binance RequestTimeout (sent, no answer)")

    try:
        await service.start()
        venue.submit_order = late  # type: ignore[method-assign]
        cmd = order(1, kind="market", prefix="smc-late")
        assert await gw.submit(cmd) is None
        stored = gw.repo.get(cmd.client_order_id)
        assert stored is not None and stored.status == OrderStatus.INITIALIZED.value  # outcome unknown
        for _ in range(40):
            await gw.poll()
            stored = gw.repo.get(cmd.client_order_id)
            if stored is not None and stored.status != OrderStatus.INITIALIZED.value:
                break
            await asyncio.sleep(0.1)
        assert stored is not None
        assert stored.status == (OrderStatus.FILLED.value if arrives else OrderStatus.REJECTED.value)
        if arrives:
            assert gw.repo.net_position("binance", "BTC/USDT") > 0  # the position is tracked
    finally:
        await close_execution(service)


def _reaching_the_venue_late(submit: Any, delay_s: float) -> Any:
    """A venue port's submit that raises a timeout at once while the request reaches the venue later."""

    async def late(command: Any) -> Any:
        async def reach_the_venue() -> None:
            await asyncio.sleep(delay_s)
            await submit(command)

        asyncio.get_running_loop().create_task(reach_the_venue())
        raise VenueUnavailable("binance RequestTimeout (sent, no answer)")

    return late


async def _late_resting_entry(gw: Any, sim: ExchangeSimulator, n: int) -> SubmitOrder:
    """A limit entry below the market (it rests) whose request reaches the venue 0.8 s after the
    gateway gave up on its answer (the venue does not know it when asked at once)."""
    gw.venues["binance"].submit_order = _reaching_the_venue_late(gw.venues["binance"].submit_order, 0.8)
    below = (sim.state.last_price("BTCUSDT") * Decimal("0.9")).quantize(Decimal(1))
    cmd = order(n, price=str(below), prefix="smc-late")
    assert await gw.submit(cmd) is None
    return cmd


async def test_a_restart_while_an_order_is_unconfirmed_keeps_asking(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    # the wait lived in memory: the restarted engine's reconciliation rejected the order at once as one
    # that never reached the venue, and the late request filled it, a position nobody tracked
    config = execution_config(migrated_sqlite_url, None, sim)
    first, other = build_execution(config), build_venue(config)
    cmd = order(1, kind="market", prefix="smc-late")
    await first.start()
    first.gateway.venues["binance"].submit_order = _reaching_the_venue_late(other.submit_order, 2.0)  # type: ignore[method-assign]
    assert await first.gateway.submit(cmd) is None
    await close_execution(first)  # the process restarts a moment later
    second = build_execution(config)
    try:
        await second.start()  # reconciles: the order is a few seconds old, it may still arrive
        stored = second.gateway.repo.get(cmd.client_order_id)
        assert stored is not None and stored.status == OrderStatus.INITIALIZED.value
        for _ in range(60):
            await second.gateway.poll()
            stored = second.gateway.repo.get(cmd.client_order_id)
            if stored is not None and stored.status != OrderStatus.INITIALIZED.value:
                break
            await asyncio.sleep(0.1)
        assert stored is not None and stored.status == OrderStatus.FILLED.value
        assert second.gateway.repo.net_position("binance", "BTC/USDT") > 0
    finally:
        await close_execution(second)
        await other.close()


async def test_an_entry_a_late_request_places_during_a_halt_is_canceled(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    # the halt's cancel-all ran before the entry reached the venue; found later, it was left working
    service = build_execution(execution_config(migrated_sqlite_url, None, sim))
    gw = service.gateway
    try:
        await service.start()
        cmd = await _late_resting_entry(gw, sim, 1)
        gw.control.halt(reason="operator halt", actor="pytest", source="test")
        await wait_for(lambda: gw.halted, 5, "the halt")
        await gw.wait_cancelled()  # nothing at the venue yet
        for _ in range(40):
            await gw.poll()
            if cmd.client_order_id not in gw._unconfirmed:
                break
            await asyncio.sleep(0.1)
        await gw.wait_cancelled()
        assert [o.client_id for o in sim.state.book.open_orders("BTCUSDT")] == []
        stored = gw.repo.get(cmd.client_order_id)
        assert stored is not None and stored.status == OrderStatus.CANCELED.value
    finally:
        await close_execution(service)


def _cancel_of(cmd: SubmitOrder) -> CancelOrder:
    return CancelOrder(
        ts_event=0,
        ts_init=0,
        strategy_id=cmd.strategy_id,
        instrument_id=cmd.instrument_id,
        client_order_id=cmd.client_order_id,
    )


async def test_a_cancel_the_venue_did_not_answer_is_sent_after_a_restart(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    # the cancel waited in memory and its stream entry was acknowledged: a restart forgot it, and the
    # order kept working (and could fill)
    config = execution_config(migrated_sqlite_url, None, sim)
    first = build_execution(config)
    await first.start()
    below = (sim.state.last_price("BTCUSDT") * Decimal("0.95")).quantize(Decimal("0.01"))
    resting = order(3, price=str(below))
    await first.gateway.submit(resting)
    sim.fault(errors_5xx=50)
    await first.handle(encode(_cancel_of(resting)))  # not answered: logged, the entry acknowledged
    await close_execution(first)  # the process dies before a retry
    sim.fault(clear=True)
    second = build_execution(config)
    try:
        await second.start()
        await second.gateway.retry_cancels()
        stored = second.gateway.repo.get(resting.client_order_id)
        assert stored is not None and stored.status == OrderStatus.CANCELED.value
        assert [
            o for o in sim.state.book.open_orders("BTCUSDT") if o.client_id == resting.client_order_id
        ] == []
    finally:
        await close_execution(second)


async def test_a_cancel_asked_while_the_acknowledgement_is_lost_cancels_the_late_order(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    # the venue did not know the order yet, so the cancel was taken as done; the late request then
    # placed it and it kept working
    service = build_execution(execution_config(migrated_sqlite_url, None, sim))
    gw = service.gateway
    try:
        await service.start()
        cmd = await _late_resting_entry(gw, sim, 4)
        await gw.cancel(_cancel_of(cmd))  # the venue does not know it yet
        for _ in range(60):
            await gw.poll()
            await gw.retry_cancels()
            stored = gw.repo.get(cmd.client_order_id)
            if stored is not None and not stored.is_open:
                break
            await asyncio.sleep(0.1)
        assert stored is not None and stored.status == OrderStatus.CANCELED.value
        assert [o.client_id for o in sim.state.book.open_orders("BTCUSDT")] == []
    finally:
        await close_execution(service)


# the close's request leaves after its cancels, which a slow venue takes 2.2 s over: the receive
# window runs from the send, also across a restart
WINDOW = 3.0  # late_ack_window_s, scaled down from 15 s (Binance recvWindow 10 s -> 2 s here)


def _slow(call: Any, delay_s: float) -> Any:
    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(delay_s)
        return await call(*args, **kwargs)

    return slow


async def _close_sent_late(sim: ExchangeSimulator, url: str, *, restart: bool) -> tuple[Any, Any, Any]:
    """A close whose cancel_first takes 2.2 s at a slow venue: its request leaves ~2.2 s after its intent
    was written, is in flight (ack lost) and reaches the venue 1.2 s later (+3.4 s after the intent,
    well inside the receive window of a request stamped +2.2 s)."""
    config = execution_config(url, None, sim)
    first, other = build_execution(config), build_venue(config)
    first.gateway.late_ack_window_s = WINDOW
    await first.start()
    above = (sim.state.last_price("BTCUSDT") * Decimal("1.2")).quantize(Decimal(1))
    target = order(1, side=OrderSide.SELL, price=str(above), prefix="smc-tp")
    assert await first.gateway.submit(target) is not None
    venue = first.gateway.venues["binance"]
    venue.cancel_order = _slow(venue.cancel_order, 2.2)  # type: ignore[method-assign]
    venue.submit_order = _reaching_the_venue_late(other.submit_order, 1.2)  # type: ignore[method-assign]
    close = replace(
        order(2, side=OrderSide.SELL, kind="market", prefix="smc-close"),
        reduce_only=True,
        cancel_first=(target.client_order_id,),
    )
    assert await first.gateway.submit(close) is None  # ack lost after ~2.2 s
    gw = first
    if restart:
        await close_execution(first)  # the process restarts at once
        gw = build_execution(config)
        gw.gateway.late_ack_window_s = WINDOW
        await gw.start()
    for _ in range(60):
        await gw.gateway.poll()
        await asyncio.sleep(0.1)
    return gw, other, close


async def test_a_close_sent_late_after_its_cancels_is_found(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    gw, other, close = await _close_sent_late(sim, migrated_sqlite_url, restart=False)
    try:
        stored = gw.gateway.repo.get(close.client_order_id)
        assert stored is not None and stored.status == OrderStatus.FILLED.value
    finally:
        await close_execution(gw)
        await other.close()


async def test_after_a_restart_the_wait_counts_from_the_send_not_the_intent(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    gw, other, close = await _close_sent_late(sim, migrated_sqlite_url, restart=True)
    try:
        at_venue = [o for o in sim.state.book.orders.values() if o.client_id == close.client_order_id]
        stored = gw.gateway.repo.get(close.client_order_id)
        problems = await gw.gateway.reconcile()
        assert problems == []
        assert [o.filled for o in at_venue] == [Decimal("0.001")]  # the close DID fill at the venue
        assert stored is not None and stored.status == OrderStatus.FILLED.value
    finally:
        await close_execution(gw)
        await other.close()


class _DeadVenue:
    """A venue that stopped answering (the one just failed away from): every lookup fails."""

    venue = "bybit"

    async def fetch_order(self, *args: Any, **kwargs: Any) -> Any:
        raise VenueUnavailable("bybit: connection refused")

    async def fetch_open_orders(self, *args: Any, **kwargs: Any) -> Any:
        raise VenueUnavailable("bybit: connection refused")


async def test_lookups_of_unconfirmed_orders_on_a_dead_venue_never_hold_up_a_halt(
    sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    service = build_execution(execution_config(migrated_sqlite_url, None, sim))
    gw = service.gateway
    try:
        await service.start()
        below = (sim.state.last_price("BTCUSDT") * Decimal("0.9")).quantize(Decimal(1))
        entry = order(1, price=str(below), prefix="smc-entry")  # a working entry on the live venue
        assert await gw.submit(entry) is not None
        # three orders whose acknowledgement was lost when bybit died (what _unacknowledged leaves)
        gw.venues["bybit"] = _DeadVenue()  # type: ignore[assignment]
        for n in range(3):
            gw._unconfirmed[f"smc-dead-{n}"] = (
                InstrumentId("bybit", "BTC/USDT"),
                None,
                time.monotonic() + 15,
            )
        poll = asyncio.create_task(gw.poll())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        gw.enter_halt("operator halt")
        while sim.state.book.open_orders("BTCUSDT"):
            await asyncio.sleep(0.02)
        waited = time.monotonic() - started
        await poll
        assert waited < 1.0, f"the halt's cancel-all waited {waited:.1f} s for poll()'s lookups"
    finally:
        gw.venues.pop("bybit", None)
        await close_execution(service)
