"""Trading goes on after a venue failover (the game day's live runtime, in process):

- the data pipeline reads candles from the active venue and the series goes on where it stopped;
- the trading engine feeds the backup venue's candles to the bots of its instrument (the drill bot
  orders on them, under the engine's instrument);
- an order in flight when its venue dies does not stop the execution engine; the first order after
  the failover goes to the backup venue (none to the dead one); polling goes on for the venues that
  answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

from smc_agent.control.failover import FailoverManager
from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderStatus, TradingState
from smc_agent.core.ids import InstrumentId
from smc_agent.live.codec import decode, decode_candle, encode, is_history
from smc_agent.live.data_service import DataService, Subscription
from smc_agent.live.strategies import STRATEGIES
from smc_agent.live.streams import CANDLES_STREAM, ORDERS_STREAM, MemoryStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import (
    ExecutionConfig,
    build_control,
    build_execution,
    build_venue,
    close_execution,
)
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import execution_config, order, simulator_config, wait_for
from tests.live.test_restart_and_incidents import INSTRUMENT

ANCHOR = 1_800_000_000_000  # both simulators serve the same candle times


async def test_market_data_and_the_drill_bot_follow_the_failover(migrated_sqlite_url: str) -> None:
    async with (
        ExchangeSimulator(simulator_config(anchor_ms=ANCHOR)) as binance,
        ExchangeSimulator(simulator_config(venue="bybit", anchor_ms=ANCHOR)) as bybit,
    ):
        config = execution_config(migrated_sqlite_url, None, binance)
        config = dataclasses.replace(config, backup_venue="bybit", backup_venue_url=bybit.url)
        active = {"venue": "binance"}
        bus = MemoryStreamBus()
        data = DataService(
            bus=bus,
            venue=build_venue(config),
            backup=build_venue(config, backup=True),
            active_venue=lambda: active["venue"],
            subscriptions=[Subscription(InstrumentId("binance", "BTC/USDT"), "1m")],
            warmup=3,
        )
        try:
            assert await data.poll_once() == 3
            binance.step(2)
            bybit.step(5)
            assert await data.poll_once() == 2
            active["venue"] = "bybit"
            assert await data.poll_once() == 3  # from bybit, after the newest candle published
            assert await data.poll_once() == 0
        finally:
            for venue in (data.venue, data.backup):
                await venue.close()  # type: ignore[union-attr]
    candles = [decode_candle(fields) for _, fields in bus.streams[CANDLES_STREAM]]
    assert [c.venue for c in candles] == ["binance"] * 5 + ["bybit"] * 3
    opens = [c.open_time for c in candles]
    assert all(b - a == 60_000 for a, b in itertools.pairwise(opens)), "no gap, no repeat"
    # the back-fill's candles but the newest are history: strategies see them, entries wait; a poll
    # that finds two or three candles (they closed faster than it ran) is live, all of it
    flags = [is_history(fields) for _, fields in bus.streams[CANDLES_STREAM]]
    assert flags == [True, True, False, False, False, False, False, False]  # polls of 3, 2 and 3

    # the trading engine: the drill bot of binance BTC/USDT trades on the bybit candles
    control, repo = build_control(migrated_sqlite_url, None)
    service = TradingService(
        bus=MemoryStreamBus(),
        repo=repo,
        control=control,
        instruments=[INSTRUMENT],
        strategies=STRATEGIES,
    )
    drill = STRATEGIES["drill"]({"qty": 0.001, "every": 1})
    service.engine.add_strategy(
        drill, instrument_id=InstrumentId("binance", "BTC/USDT"), timeframe="1m", strategy_id="bot_drill"
    )
    drill.on_start()
    service.engine.start()
    for candle in candles[-3:]:
        await service.on_candle(candle)
    commands = [decode(fields) for _, fields in service.bus.streams[ORDERS_STREAM]]  # type: ignore[attr-defined]
    assert [c.side.value for c in commands] == ["buy", "sell", "buy"]  # type: ignore[union-attr]
    assert all(
        isinstance(c, SubmitOrder) and c.instrument_id == InstrumentId("binance", "BTC/USDT")
        for c in commands
    ), "orders name the engine's instrument; the execution engine routes them to the active venue"


async def test_an_order_in_flight_when_the_venue_dies_does_not_stop_the_execution_engine(
    migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    async with (
        ExchangeSimulator(simulator_config()) as binance,
        ExchangeSimulator(simulator_config(venue="bybit")) as bybit,
    ):
        config = _with_backup(execution_config(migrated_pg_url, redis_pair[0], binance), bybit)
        service = build_execution(config)
        repo, gateway = service.gateway.repo, service.gateway
        manager = FailoverManager(kv=gateway.control.kv, journal=gateway.control.journal)
        try:
            await service.start()
            resting = order(1)  # a limit order working on binance (below the market)
            await service.bus.publish(ORDERS_STREAM, encode(resting))
            await wait_for(lambda: _status(repo, resting) == "accepted", 10, "the binance order to rest")

            await binance.stop()  # binance dies; the next order is in flight to it
            lost = order(2, kind="market")
            await service.bus.publish(ORDERS_STREAM, encode(lost))
            await wait_for(lambda: service.handled >= 2, 20, "the lost order to be handled")
            assert _status(repo, lost) == OrderStatus.INITIALIZED.value, "unknown outcome: kept, not resent"

            # the very next order goes to bybit: routing reads the active venue for each new order
            manager.activate_failover("binance", "bybit", reason="test", actor="pytest", source="test")
            after = order(3, kind="market")
            await service.bus.publish(ORDERS_STREAM, encode(after))
            await wait_for(lambda: _status(repo, after) == "filled", 15, "the next order to fill on bybit")
            stored = repo.get(after.client_order_id)
            assert stored is not None and stored.exchange == "bybit"

            # polling: binance does not answer, bybit's working order is still followed
            working = order(4)
            await service.bus.publish(ORDERS_STREAM, encode(working))
            await wait_for(lambda: _status(repo, working) == "accepted", 10, "a bybit order to rest")
            stored = repo.get(working.client_order_id)
            assert stored is not None and stored.exchange == "bybit"
            iid = InstrumentId("bybit", "BTC/USDT")
            await gateway.venues["bybit"].cancel_order(iid, client_order_id=working.client_order_id)
            await gateway.poll()
            assert _status(repo, working) == OrderStatus.CANCELED.value
            assert _status(repo, resting) == "accepted"  # binance's stays as it was: nobody to ask
        finally:
            await close_execution(service)


def _with_backup(config: ExecutionConfig, bybit: ExchangeSimulator) -> ExecutionConfig:
    return dataclasses.replace(config, backup_venue="bybit", backup_venue_url=bybit.url)


def _status(repo: object, cmd: SubmitOrder) -> str | None:
    stored = repo.get(cmd.client_order_id)  # type: ignore[attr-defined]
    return None if stored is None else str(stored.status)


async def test_resume_and_restart_while_the_failed_venue_is_still_down(
    migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    """After a failover away from a dead venue, neither the resume verification nor a restarted
    execution engine waits for the dead venue: what is checked is where new orders go."""
    async with (
        ExchangeSimulator(simulator_config()) as binance,
        ExchangeSimulator(simulator_config(venue="bybit")) as bybit,
    ):
        config = _with_backup(execution_config(migrated_pg_url, redis_pair[0], binance), bybit)
        service = build_execution(config)
        control = service.gateway.control
        try:
            await service.start()
            await binance.stop()
            FailoverManager(kv=control.kv, journal=control.journal).activate_failover(
                "binance", "bybit", reason="binance down", actor="pytest", source="test"
            )
            control.halt(reason="drill", actor="pytest", source="test")
            await service.guard.tick()
            assert service.gateway.halted
            control.request_release(reason="all clear", actor="pytest", source="test")
            snap = await service.guard.tick()
            assert snap.state is TradingState.ACTIVE, snap.reason
            assert not service.gateway.halted
            after = order(5, kind="market")
            await service.bus.publish(ORDERS_STREAM, encode(after))
            await wait_for(lambda: _status(service.gateway.repo, after) == "filled", 15, "a fill on bybit")
        finally:
            await close_execution(service)

        restarted = build_execution(config)  # binance still down
        try:
            await asyncio.wait_for(restarted.start(), 30)
            assert restarted.gateway.reconciled
        finally:
            await close_execution(restarted)
