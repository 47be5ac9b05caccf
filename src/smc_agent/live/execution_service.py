"""The execution-engine service: consumes order commands from the orders stream, runs them through
the :class:`~smc_agent.live.gateway.OrderGateway`, publishes order events to the events stream.

Start-up order: reconcile with every venue (before any new order) -> halt guard -> consume.
An entry is acknowledged on the stream only after the gateway has handled it, so a ``kill -9`` at
any point leaves it pending; the restarted engine reconciles first and then re-reads its pending
entries, which the gateway recognises by client order id (never sent twice).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smc_agent.core.candle import timeframe_ms
from smc_agent.core.commands import CancelAllOrders, CancelOrder, SubmitOco, SubmitOrder
from smc_agent.core.errors import SmcAgentError
from smc_agent.core.events import Event
from smc_agent.core.ids import InstrumentId
from smc_agent.core.ports import VenuePort
from smc_agent.live.codec import decode, encode
from smc_agent.live.gateway import OrderGateway
from smc_agent.live.halt_guard import AsyncCheck, HaltGuard
from smc_agent.live.health import HealthServer
from smc_agent.live.streams import EVENTS_STREAM, ORDERS_STREAM, StreamBus
from smc_agent.logs import get_logger

log = get_logger("smc_agent.live.execution")
GROUP = "execution-engine"


@dataclass(frozen=True, slots=True)
class ExecutionOptions:
    consumer_name: str = "execution-engine-0"
    poll_interval_s: float = 0.5
    reconcile_interval_s: float = 30.0
    freshness_timeframe: str = "1m"
    freshness_symbols: tuple[str, ...] = ()
    health_port: int | None = None
    retry_pause_s: float = 1.0  # before an order command that failed outside the venue is retried


class ExecutionService:
    def __init__(self, *, gateway: OrderGateway, bus: StreamBus, options: ExecutionOptions) -> None:
        self.gateway = gateway
        self.bus = bus
        self.options = options
        self.guard = HaltGuard(
            control=gateway.control, gateway=gateway, checks=self.resume_checks(), name=options.consumer_name
        )
        self.handled = 0
        self.stopping = False
        self.health: HealthServer | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def publish(self, event: Event) -> None:
        await self.bus.publish(EVENTS_STREAM, encode(event))

    # ---------------------------------------------------------------- resume verification
    def resume_checks(self) -> Sequence[tuple[str, AsyncCheck]]:
        """Verification before a halt is released. Venues are checked where new orders would go (the
        active venue once a failover is on): a dead venue that was failed away from must not keep
        trading halted on the healthy one; it is logged and reconciled when it answers again."""
        gw = self.gateway

        def trading_venues() -> dict[str, VenuePort]:
            active = gw.router.refresh() if gw.router is not None else None
            if active is None or active not in gw.venues:
                return dict(gw.venues)
            return {active: gw.venues[active]}

        async def database() -> str | None:
            await asyncio.to_thread(gw.repo.ping)
            return None

        async def control_store() -> str | None:
            await asyncio.to_thread(gw.control.kv.ping)
            return None

        async def venues() -> str | None:
            down = []
            for name, venue in trading_venues().items():
                try:
                    await asyncio.wait_for(venue.fetch_open_orders(), 5.0)
                except Exception as exc:
                    down.append(f"{name}: {type(exc).__name__}: {exc}")
            return "; ".join(down) or None

        async def reconciliation() -> str | None:
            problems = await gw.reconcile()
            blocking = gw.blocking(problems)
            if len(blocking) < len(problems):
                log.warning("resume: a venue failed away from is not answering", problems=problems)
            return "; ".join(blocking) or None

        async def market_data() -> str | None:
            # the engine's own symbols and those of every bot that runs or is starting: a bot on
            # another symbol or timeframe must not be resumed into a feed that has stopped
            feeds = {(symbol, self.options.freshness_timeframe) for symbol in self.options.freshness_symbols}
            feeds |= await asyncio.to_thread(gw.repo.bot_feeds, tuple(gw.venues))
            return await fresh_market_data(trading_venues(), sorted(feeds))

        return [
            ("database", database),
            ("control_store", control_store),
            ("venue_connectivity", venues),
            ("reconciliation", reconciliation),
            ("market_data", market_data),
        ]

    # ---------------------------------------------------------------- run
    async def start(self) -> None:
        if self.options.health_port is not None:
            self.health = HealthServer(
                name="execution-engine", ready=self.readiness, port=self.options.health_port
            )
            await self.health.start()
        await self.reconcile_until_clean()
        await self.guard.tick()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.guard.run(), name="halt-guard"),
            loop.create_task(self._every(self.options.poll_interval_s, self.gateway.poll), name="poll"),
            loop.create_task(
                self._every(self.options.poll_interval_s, self.gateway.retry_cancels), name="cancels"
            ),
            loop.create_task(
                self._every(self.options.reconcile_interval_s, self.gateway.reconcile), name="reconcile"
            ),
            loop.create_task(self.consume(), name="consume-orders"),
        ]
        if self.gateway.router is not None:
            self._tasks.append(loop.create_task(self._follow_active_venue(), name="active-venue"))
        log.info(
            "execution engine started",
            consumer=self.options.consumer_name,
            venues=sorted(self.gateway.venues),
        )

    async def stop(self) -> None:
        self.stopping = True
        self.guard.stopping = True
        self.gateway.close()
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # redis-py may swallow a cancellation inside a blocking read: bounded wait
            await asyncio.wait(self._tasks, timeout=2.0)
        self._tasks = []
        if self.health is not None:
            await self.health.stop()

    async def _follow_active_venue(self) -> None:
        """Notice a failover within a second even when no order arrives (stranded flags, the log line)."""
        router = self.gateway.router
        assert router is not None
        while not self.stopping:
            try:
                router.refresh()  # one GET; on the loop, like the per-order halt check
            except Exception as exc:
                log.warning("active venue refresh failed", error=str(exc))
            await asyncio.sleep(router.refresh_s)

    async def reconcile_until_clean(self) -> None:
        while True:
            problems = await self.gateway.reconcile()
            if not self.gateway.blocking(problems) or self.gateway.halted:
                return
            log.warning("start-up reconciliation incomplete; retrying", problems=problems)
            await asyncio.sleep(1.0)

    async def consume(self) -> None:
        """Handle the orders stream in order, each entry until it is handled: an error outside the
        venue's (the database refusing the write-ahead, the stream store unreachable) is retried after
        a pause, never skipped and never the end of this loop. Handling is idempotent by client id."""
        consumer = self.bus.consumer(ORDERS_STREAM, group=GROUP, name=self.options.consumer_name)
        while not self.stopping:
            try:
                entries = await consumer.read(count=20, block_ms=200)
            except Exception as exc:
                log.error("ALERT orders stream unreadable; retrying", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(self.options.retry_pause_s)
                continue
            for entry_id, fields in entries:
                while not self.stopping:
                    try:
                        await self.handle(fields)
                        await consumer.ack(entry_id)
                    except Exception as exc:
                        log.error(
                            "ALERT order command not handled; retrying it before any later one",
                            entry=entry_id,
                            error=f"{type(exc).__name__}: {exc}",
                        )
                        await asyncio.sleep(self.options.retry_pause_s)
                    else:
                        self.handled += 1
                        break

    async def handle(self, fields: dict[str, str]) -> None:
        try:
            message = decode(fields)
        except (ValueError, TypeError) as exc:
            log.error("dropping malformed order command", error=str(exc))
            return
        try:
            if isinstance(message, SubmitOrder):
                await self.gateway.submit(message)
            elif isinstance(message, SubmitOco):
                await self.gateway.submit_oco(message)
            elif isinstance(message, CancelOrder):
                await self.gateway.cancel(message)
            elif isinstance(message, CancelAllOrders):
                await self.gateway.cancel_entries()
            else:
                log.error("unexpected message on the orders stream", kind=type(message).__name__)
        except (SmcAgentError, TimeoutError, OSError) as exc:
            if isinstance(message, CancelOrder):  # stored as asked for: the gateway's poll sends it again
                log.error(
                    "ALERT cancel not answered by the venue; sent again at every poll until it is",
                    cid=message.client_order_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                return
            # e.g. the venue died with the order in flight: its intent is in the database, and
            # reconciliation settles it with the venue later (never resent); the next orders go on
            log.error(
                "ALERT order command outcome unknown: the venue did not answer; reconciliation settles it",
                kind=type(message).__name__,
                cid=getattr(
                    message.stop if isinstance(message, SubmitOco) else message, "client_order_id", None
                ),
                error=f"{type(exc).__name__}: {exc}",
            )

    async def _every(self, seconds: float, func: Any) -> None:
        while not self.stopping:
            await asyncio.sleep(seconds)
            try:
                await func()
            except Exception as exc:
                log.warning("periodic task failed", task=getattr(func, "__name__", "?"), error=str(exc))

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        snap = self.guard.last
        detail = {
            "reconciled": self.gateway.reconciled,
            "halted": self.gateway.halted_reason,
            "control_store_ok": None if snap is None else snap.store_ok,
            "orders_handled": self.handled,
        }
        return bool(self.gateway.reconciled and snap is not None and snap.store_ok), detail


async def fresh_market_data(venues: dict[str, VenuePort], feeds: Sequence[tuple[str, str]]) -> str | None:
    """None when the newest closed candle of every (symbol, timeframe) feed is recent at every venue,
    else what is stale (a venue that refuses a feed, e.g. a symbol it does not list, is stale too)."""
    now = int(time.time() * 1000)
    stale = []
    for name, venue in venues.items():
        for symbol, timeframe in feeds:
            where = f"{symbol} {timeframe}@{name}"
            try:
                candles = await asyncio.wait_for(
                    venue.fetch_candles(InstrumentId(name, symbol), timeframe, limit=2), 5.0
                )
            except SmcAgentError as exc:
                stale.append(f"{where}: {exc}")
                continue
            if not candles:
                stale.append(f"{where}: no candles")
            elif now - candles[-1].close_time > 3 * timeframe_ms(timeframe) + 60_000:
                stale.append(f"{where}: newest candle closed {(now - candles[-1].close_time) // 1000}s ago")
    return "; ".join(stale) or None
