"""A lost create-order acknowledgement is resolved by asking the venue by client id, never by resending."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from smc_agent.core.enums import OrderStatus
from smc_agent.live.codec import encode
from smc_agent.live.streams import ORDERS_STREAM
from smc_agent.live.wiring import build_execution, close_execution
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
        assert repo.net_position("binance", "BTC/USDT") == venue_orders[0].filled
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
