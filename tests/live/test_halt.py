"""The playbook's emergency halt against a running execution engine (real Redis db 0, real
PostgreSQL, the exchange simulator on loopback): latency, latch on expiry, release on DEL."""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import AsyncIterator

import pytest
import redis

from smc_agent.core.enums import OrderSide, OrderStatus
from smc_agent.live.execution_service import ExecutionService
from smc_agent.live.wiring import build_execution, close_execution
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, order, wait_for
from tests.live.halt_harness import ArrivalLog, halt_trial


@pytest.fixture
async def engine(
    sim: ExchangeSimulator, migrated_pg_url: str, playbook_redis: tuple[str, str]
) -> AsyncIterator[ExecutionService]:
    service = build_execution(execution_config(migrated_pg_url, playbook_redis[0], sim))
    await service.start()
    try:
        yield service
    finally:
        await close_execution(service)


def raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


async def release_with_del(url: str, service: ExecutionService) -> None:
    raw(url).delete("emergency_halt")
    await wait_for(lambda: not service.gateway.halted, 15, "the engine to verify and resume")


async def test_halt_latency_no_order_after_set_and_all_cancelled(
    engine: ExecutionService,
    sim: ExchangeSimulator,
    playbook_redis: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = playbook_redis[0]
    log = ArrivalLog(sim)
    trials = []
    for _ in range(3):
        trial = await halt_trial(engine, sim, log, url)
        trials.append(trial)
        assert trial.orders_before > 10, "orders must be flowing at a high rate when the halt lands"
        assert trial.authorized_after_set == 0, "the gateway let an order through after SET returned"
        assert trial.arrived_after_set == trial.in_flight_at_set <= 1, trial
        assert trial.working_after == 0, "working entry orders must all be cancelled"
        assert trial.cancel_all_s < 5.0
        await release_with_del(url, engine)
    assert "trading resumed" in caplog.text
    print("cancel-all median s:", statistics.median(t.cancel_all_s for t in trials))


async def test_expiry_keeps_halted_and_alerts_del_resumes(
    engine: ExecutionService,
    sim: ExchangeSimulator,
    playbook_redis: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = playbook_redis[0]
    r = raw(url)
    r.set("emergency_halt", "true")
    r.expire("emergency_halt", 1)
    await wait_for(lambda: engine.gateway.halted, 5, "the halt")
    await asyncio.sleep(2.0)  # the key expires
    await wait_for(lambda: "key expired" in caplog.text, 5, "the expiry alert")
    assert r.exists("emergency_halt") == 1 and r.ttl("emergency_halt") == -1  # set again, no expiry
    assert engine.gateway.halted, "expiry must not resume trading"
    cmd = order(1, prefix="smc-exp")
    await engine.gateway.submit(cmd)
    assert not any(o.client_id == cmd.client_order_id for o in sim.state.book.orders.values())
    assert "trading resumed" not in caplog.text
    # the explicit release: the playbook's DEL; the engine verifies and resumes
    r.delete("emergency_halt")
    await wait_for(lambda: not engine.gateway.halted, 15, "the engine to resume")
    assert "trading resumed" in caplog.text
    cmd2 = order(2, prefix="smc-exp")
    await engine.gateway.submit(cmd2)
    stored = engine.gateway.repo.get(cmd2.client_order_id)
    assert stored is not None and stored.status == OrderStatus.ACCEPTED.value


async def test_del_while_venue_down_does_not_resume(
    engine: ExecutionService,
    sim: ExchangeSimulator,
    playbook_redis: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = playbook_redis[0]
    r = raw(url)
    r.set("emergency_halt", "true")
    await wait_for(
        lambda: engine.guard.last is not None and engine.guard.last.halt_key_present, 5, "key seen"
    )
    await sim.go_down()
    r.delete("emergency_halt")
    await wait_for(lambda: "resume verification failed" in caplog.text, 30, "the failed verification")
    assert engine.gateway.halted
    await sim.come_up()
    await asyncio.sleep(1.0)
    assert engine.gateway.halted, "a failed verification stays halted until an explicit release"
    assert "trading resumed" not in caplog.text
    snap = engine.gateway.control.request_release(reason="venue back", actor="test", source="test")
    assert snap.latch is not None
    await wait_for(lambda: not engine.gateway.halted, 20, "the engine to resume after the venue is back")
    assert "trading resumed" in caplog.text


async def test_a_halt_cancels_the_entries_once_a_venue_that_did_not_answer_is_back(
    engine: ExecutionService, sim: ExchangeSimulator, playbook_redis: tuple[str, str]
) -> None:
    # the cancel-all listed the open orders five times, said an ALERT and gave up: the entries kept
    # working (and could fill) for the whole halt once the venue answered again
    for n in range(1, 4):
        await engine.gateway.submit(order(n, prefix="smc-cxl"))
    assert len(sim.state.book.open_orders(None)) == 3
    await sim.go_down()
    raw(playbook_redis[0]).set("emergency_halt", "true")
    await wait_for(lambda: engine.gateway.halted, 5, "the halt")
    await wait_for(lambda: engine.gateway.cancel_unverified == {"binance"}, 60, "the cancel-all to give up")
    assert len(sim.state.book.open_orders(None)) == 3
    await sim.come_up()
    await wait_for(lambda: not sim.state.book.open_orders(None), 30, "the entries cancelled once it answers")
    await wait_for(lambda: not engine.gateway.cancel_unverified, 10, "the cancel-all verified")
    assert engine.gateway.halted
    for n in range(1, 4):
        stored = engine.gateway.repo.get(f"smc-cxl-{n:08d}")
        assert stored is not None and stored.status == OrderStatus.CANCELED.value


async def test_resume_checks_the_market_data_of_every_running_bot(
    engine: ExecutionService, playbook_redis: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The engine's own feed (BTC/USDT 1m) is fresh; a running bot trades ETH/USDT, which the venue
    serves no candles for: the halt is not released into that bot's dead feed."""
    from smc_agent.store.db import transaction
    from smc_agent.store.users import create_user

    repo = engine.gateway.repo
    with transaction(repo.session_factory) as session:
        owner = create_user(session, username="trader", password="a-long-password-1", role="admin").id
    bot = repo.create_bot(
        user_id=owner,
        name="eth",
        strategy="sma_cross",
        venue="binance",
        symbols=["ETH/USDT"],
        timeframes=["5m"],
    )
    r = raw(playbook_redis[0])
    r.set("emergency_halt", "true")
    await wait_for(
        lambda: engine.guard.last is not None and engine.guard.last.halt_key_present, 5, "key seen"
    )
    r.delete("emergency_halt")
    await wait_for(lambda: "resume verification failed" in caplog.text, 30, "the failed verification")
    assert engine.gateway.halted
    failed = [rec for rec in caplog.records if "resume verification failed" in rec.getMessage()]
    assert "ETH/USDT 5m@binance" in str(failed[-1].__dict__), failed[-1].__dict__
    assert "BTC/USDT" not in str(failed[-1].__dict__)
    repo.set_bot_state(bot, "stopped")  # the bot stopped: nothing trades on that feed any more
    engine.gateway.control.request_release(reason="eth bot stopped", actor="test", source="test")
    await wait_for(lambda: not engine.gateway.halted, 20, "the engine to resume")


async def test_an_order_the_venue_throttled_is_not_sent_again_once_halted(
    engine: ExecutionService, sim: ExchangeSimulator, playbook_redis: tuple[str, str]
) -> None:
    # the venue turned the entry away (429, retry in 2 s); the halt was set while the gateway waited out
    # the backoff, and its retry sent the market order anyway: it filled 2 s after the halt
    arrivals: dict[str, float] = {}
    sim.state.book.listeners.append(lambda o: arrivals.setdefault(o.client_id, time.monotonic()))
    sim.fault(rate_limit_429=1, retry_after_s=2)
    cmd = order(1, kind="market", prefix="smc-h1")
    sent = asyncio.get_running_loop().create_task(engine.gateway.submit(cmd))
    await asyncio.sleep(0.5)  # checked, sent, throttled: waiting out the backoff
    raw(playbook_redis[0]).set("emergency_halt", "true")
    halted_at = time.monotonic()
    assert await asyncio.wait_for(sent, 10) is None
    stored = engine.gateway.repo.get(cmd.client_order_id)
    assert cmd.client_order_id not in arrivals, f"reached the venue {arrivals} after the halt at {halted_at}"
    assert stored is not None and stored.status == OrderStatus.REJECTED.value
    assert engine.gateway.halted


async def test_an_exit_the_venue_throttled_still_goes_once_halted(
    engine: ExecutionService, sim: ExchangeSimulator, playbook_redis: tuple[str, str]
) -> None:
    # authorised before the halt, a close has had its stop and target canceled already: refused on its
    # retry, it left the position with no exit at all (the halt stops new risk, not its way out)
    entry = order(2, kind="market", qty="0.01", prefix="smc-x")
    assert await engine.gateway.submit(entry) is not None  # holds 0.01 less its fee in BTC
    close = dataclasses.replace(
        order(3, side=OrderSide.SELL, kind="market", qty="0.00999", prefix="smc-x"), reduce_only=True
    )
    sim.fault(rate_limit_429=1, retry_after_s=2)
    sent = asyncio.get_running_loop().create_task(engine.gateway.submit(close))
    await asyncio.sleep(0.5)
    raw(playbook_redis[0]).set("emergency_halt", "true")
    report = await asyncio.wait_for(sent, 10)
    assert report is not None and report.status is OrderStatus.FILLED
    assert engine.gateway.halted


async def test_an_entry_resent_after_a_clock_resync_is_not_sent_once_halted(
    engine: ExecutionService, sim: ExchangeSimulator, playbook_redis: tuple[str, str]
) -> None:
    # our clock 60 s ahead of the venue's: the entry is refused (-1021, outside the receive window)
    # unprocessed, the gateway measures the offset and sends it again; the halt set while it measured
    # was not checked before that resend (only a throttle's resend was)
    venue = engine.gateway.venues["binance"]
    exchange = venue.exchange  # type: ignore[attr-defined]
    exchange.options["timeDifference"] = -60_000
    measure = exchange.load_time_difference
    arrivals: dict[str, float] = {}
    sim.state.book.listeners.append(lambda o: arrivals.setdefault(o.client_id, time.monotonic()))

    async def halted_while_measuring(*args: object) -> object:
        raw(playbook_redis[0]).set("emergency_halt", "true")
        return await measure(*args)

    exchange.load_time_difference = halted_while_measuring
    cmd = order(4, kind="market", prefix="smc-r")
    assert await asyncio.wait_for(engine.gateway.submit(cmd), 10) is None
    assert exchange.options["timeDifference"] != -60_000  # the offset was measured
    assert cmd.client_order_id not in arrivals, "the entry reached the venue after the halt"
    stored = engine.gateway.repo.get(cmd.client_order_id)
    assert stored is not None and stored.status == OrderStatus.REJECTED.value
    assert engine.gateway.halted
