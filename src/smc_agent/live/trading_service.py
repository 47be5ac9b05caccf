"""The trading-engine service: the ONE :class:`~smc_agent.engine.engine.TradingEngine` (the same one
backtests run) fed by the candles stream, sending its orders to the orders stream and receiving the
execution engine's order events from the events stream.

After a venue failover the data pipeline publishes the backup venue's candles; they reach the bots
of the engine's instrument of the same symbol (as the backup venue's order events do), so trading
goes on with the same bots, positions and client order ids.

Bots are loaded from the database and re-read every few seconds: a bot in state ``starting`` (what
``POST /v1/bots/{id}/start`` writes) or ``running`` is added (and started) while the process runs and
recorded ``running`` (``error``, with the reason, if its strategy cannot start); a bot in state
``stopping`` (or any other state) is halted in the engine (it gets no more candles; its working entry
orders are cancelled) and a ``stopping`` bot is recorded ``stopped``.

Every order the engine's risk gate denies is stored (status ``denied``, with the check and its
figures) by a background task: a database error is logged and never stops or delays trading.
The halt state is observed ~5x/s: HALTED switches the engine to HALTED (no new orders, working
entries cancelled), and trading continues only once the control plane is ACTIVE again: a release
is logged ``trading resumed``, and a venue failover (``active_venue``, read every second) is logged
with the venues (:mod:`smc_agent.live.venue_watch`), for the playbook's greps of this engine's logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from smc_agent.control.trading import TRADING_HEARTBEAT_KEY, TradingControl
from smc_agent.core.candle import Candle
from smc_agent.core.clock import TestClock
from smc_agent.core.commands import CancelOrder, SubmitOco, SubmitOrder
from smc_agent.core.control import ControlStoreUnavailable
from smc_agent.core.enums import TradingState
from smc_agent.core.errors import RetryableError, SmcAgentError
from smc_agent.core.events import (
    Event,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    TradingStateChanged,
)
from smc_agent.core.ids import InstrumentId, StrategyId
from smc_agent.core.instrument import Instrument
from smc_agent.core.ports import EventHandler
from smc_agent.engine.engine import TradingEngine
from smc_agent.execution.ids import child_role, sibling_order_id
from smc_agent.live.codec import decode, decode_candle, encode, is_history
from smc_agent.live.incidents import IncidentHook, breaker_name, raise_incident
from smc_agent.live.restore import logical_instrument, restore_engine
from smc_agent.live.streams import CANDLES_STREAM, EVENTS_STREAM, ORDERS_STREAM, StreamBus
from smc_agent.live.venue_watch import VenueWatch
from smc_agent.logs import get_logger
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.gate import RiskGate
from smc_agent.store.trading_repo import ACTIVE_BOT_STATES, Denial, TradingRepo, bot_id_of
from smc_agent.strategy.base import Strategy

BREAKER_ACTOR = "trading-engine"
log = get_logger("smc_agent.live.trading")
GROUP = "trading-engine"
StrategyFactory = Callable[[dict[str, Any]], Strategy]
MAX_PENDING_DENIALS = 10_000


class StreamExecutionClient:
    """``ExecutionClient`` of the live engine: commands are queued and published to the orders stream."""

    def __init__(self) -> None:
        self.outbox: list[SubmitOrder | CancelOrder] = []
        self.sink: EventHandler | None = None

    def connect(self, sink: EventHandler) -> None:
        self.sink = sink

    def on_candle(self, candle: Candle) -> None:
        return None  # a real venue matches orders itself

    def submit(self, command: SubmitOrder) -> None:
        self.outbox.append(command)

    def cancel(self, command: CancelOrder) -> None:
        self.outbox.append(command)


def paired_exits(
    commands: Sequence[SubmitOrder | CancelOrder],
) -> list[SubmitOrder | CancelOrder | SubmitOco]:
    """The commands, with each position's stop-loss and take-profit (the engine emits them together
    when the entry fills) as one :class:`SubmitOco` in the stop's place: one stream entry, so the
    execution engine can send them as one order list where the venue has them."""
    submits = {c.client_order_id: c for c in commands if isinstance(c, SubmitOrder)}
    pairs: dict[str, SubmitOrder] = {}  # stop's id -> its target
    for cid in submits:
        sibling = sibling_order_id(cid)
        if child_role(cid) == "sl" and sibling is not None and sibling in submits:
            pairs[cid] = submits[sibling]
    if not pairs:
        return list(commands)
    paired = {t.client_order_id for t in pairs.values()}
    out: list[SubmitOrder | CancelOrder | SubmitOco] = []
    for c in commands:
        if isinstance(c, SubmitOrder) and c.client_order_id in pairs:
            out.append(
                SubmitOco(ts_event=c.ts_event, ts_init=c.ts_init, stop=c, target=pairs[c.client_order_id])
            )
        elif not (isinstance(c, SubmitOrder) and c.client_order_id in paired):
            out.append(c)
    return out


class TradingService:
    def __init__(
        self,
        *,
        bus: StreamBus,
        repo: TradingRepo,
        control: TradingControl,
        instruments: Sequence[Instrument],
        strategies: Mapping[str, StrategyFactory],
        starting_cash: Decimal = Decimal(10_000),
        risk: RiskConfig | None = None,
        consumer_name: str = "trading-engine-0",
        bot_refresh_s: float = 3.0,
        on_incident: IncidentHook | None = None,
        mode: str = "paper",
        active_venue: Callable[[], str] | None = None,
    ) -> None:
        self.bus = bus
        # the bots this engine runs: those of its mode (SMC_MODE). The execution engine sends every
        # order to the one venue it was started for: a paper bot on a live engine would trade real money
        self.mode = mode
        self._other_mode: set[str] = set()  # bots of the other mode, said once
        self.on_incident = on_incident
        self.repo = repo
        self.control = control
        self.strategies = dict(strategies)
        self.consumer_name = consumer_name
        self.bot_refresh_s = bot_refresh_s
        self.clock = TestClock(0)  # set to each candle's close: the same clock discipline as backtests
        self.client = StreamExecutionClient()
        self.engine = TradingEngine(
            clock=self.clock,
            client=self.client,
            instruments=instruments,
            risk=RiskGate(risk or RiskConfig()),
            starting_cash=starting_cash,
        )
        self.candles_seen = 0
        self.candles_repeated = 0
        self._last_open: dict[tuple[str, str, str], int] = {}
        self.stopping = False
        self._restored_trades: frozenset[tuple[str, str]] = frozenset()
        self.listeners: list[EventHandler] = []
        self.pending_denials: deque[Denial] = deque(maxlen=MAX_PENDING_DENIALS)
        self.denials_recorded = 0
        self.denials_lost = 0
        self.denial_flush_s = 0.2
        self.engine.bus.subscribe(Event, self._on_engine_event)
        self._tasks: list[asyncio.Task[Any]] = []
        # commands the stream store has not taken yet (it was down): sent first, in order, at the next flush
        self._unsent: list[SubmitOrder | CancelOrder | SubmitOco] = []
        self._flush_lock = asyncio.Lock()
        self.retry_pause_s = 0.5  # after the stream store or the database failed a loop's step
        self._started_with: dict[str, tuple[object, ...]] = {}  # bot id: the settings it runs with
        # the failover manager's active venue, read by the guard loop: a change is logged
        self.venue_watch = (
            None
            if active_venue is None
            else VenueWatch(active_venue, home=instruments[0].venue if instruments else None)
        )

    # ------------------------------------------------------------------ bots
    def sync_bots(self) -> None:
        rows = {b["id"]: b for b in self.repo.bots()}
        for bot_id, row in rows.items():
            sid = StrategyId(bot_id)
            state = row["state"]
            if row["mode"] != self.mode:  # another engine's (a paper engine beside a live one): not ours
                if bot_id not in self._other_mode:
                    self._other_mode.add(bot_id)
                    log.warning(
                        "bot left to an engine of its mode",
                        bot=bot_id,
                        bot_mode=row["mode"],
                        engine_mode=self.mode,
                    )
                continue
            refusal = self._refusal(row)
            if refusal is not None and state in ACTIVE_BOT_STATES:
                if sid in self.engine.bots:  # stopped below, as any bot no longer active
                    log.warning("bot may not run on this engine; stopping it", bot=bot_id, reason=refusal)
                self._record_bot(bot_id, state, "error", refusal)
                state = "error"
            active = state in ACTIVE_BOT_STATES
            if active and sid not in self.engine.bots:
                error = self._add_bot(row)
                if error is not None:
                    self._record_bot(bot_id, state, "error", error)
                else:
                    self._record_bot(bot_id, state, "running", "started by the trading engine")
            elif sid in self.engine.bots:
                bot = self.engine.bots[sid]
                if not active and bot.state is not TradingState.HALTED:
                    self._halt_bot(sid)
                    log.info("bot stopped", bot=bot_id)
                elif active and self._started_with.get(bot_id) != _settings(row):
                    # edited while stopped (or while a stop and a start crossed): started anew with
                    # what it now says (the old strategy object traded on with the symbol and
                    # parameters the owner had changed)
                    self._halt_bot(sid)
                    error = self._rebuild_bot(row)
                    if error is not None:
                        self._record_bot(bot_id, state, "error", error)
                        continue
                    log.info("bot restarted with its new settings", bot=bot_id)
                elif active and bot.state is TradingState.HALTED:
                    bot.state = TradingState.ACTIVE
                    log.info("bot restarted", bot=bot_id)
                if state == "starting":
                    self._record_bot(bot_id, state, "running", "started by the trading engine")
            if state == "stopping":  # halted above (or never running here): the stop is done
                self._record_bot(bot_id, state, "stopped", "stopped by the trading engine")

    def _refusal(self, row: dict[str, Any]) -> str | None:
        """Why the bot of ``row`` may not trade on this engine, or None."""
        if not row["owner_active"]:
            return "its owner's account is disabled"
        if row["mode"] == "live" and row["owner_role"] != "admin":
            return "a live bot needs an admin owner (the role was changed since it was made live)"
        return None

    def _record_bot(self, bot_id: str, expected: str, state: str, reason: str) -> None:
        """Record a bot's new state unless it changed meanwhile (a stop requested while it started)."""
        if expected == state:
            return
        if self.repo.transition_bot(bot_id, expected, state, reason):
            log.info("bot state recorded", bot=bot_id, state=state, reason=reason)

    def _halt_bot(self, sid: StrategyId) -> None:
        """No new signals from the bot; its working entries canceled (its exits stay)."""
        self.engine.bots[sid].state = TradingState.HALTED
        for o in self.engine.orders.open_orders():
            if o.strategy_id == sid and not o.reduce_only:
                self.client.cancel(_cancel(o.strategy_id, o.instrument_id, o.client_order_id))

    def _rebuild_bot(self, row: dict[str, Any]) -> str | None:
        """Replace a halted bot's strategy by one built from its row; None when it runs, else why not
        (the old one stays out, halted)."""
        self.engine.remove_strategy(StrategyId(row["id"]))
        self._started_with.pop(row["id"], None)
        return self._add_bot(row)

    def _add_bot(self, row: dict[str, Any]) -> str | None:
        """Add and start the bot of ``row``; None when it runs, else why it could not be started."""
        factory = self.strategies.get(row["strategy"])
        if factory is None:
            log.error("bot uses an unknown strategy; not started", bot=row["id"], strategy=row["strategy"])
            return f"unknown strategy {row['strategy']!r}"
        sid = StrategyId(row["id"])
        iid = InstrumentId(row["venue"], row["symbols"][0])
        elsewhere = self.engine.held_elsewhere(sid, iid)
        if elsewhere:  # its symbol was changed (while stopped, or while no engine ran) under a position
            log.error("bot moved off what it holds; not started", bot=row["id"], holds=elsewhere)
            return f"it holds {', '.join(elsewhere)}: close them before moving it to {iid.symbol}"
        added = False
        try:
            strategy = factory(row["parameters"])
            self.engine.add_strategy(
                strategy, instrument_id=iid, timeframe=row["timeframes"][0], strategy_id=row["id"]
            )
            added = True
            strategy.on_start()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("bot could not be started", bot=row["id"], error=error)
            if added:  # out of the routes too: a strategy whose start failed got candles, sent orders
                self.engine.remove_strategy(sid)
            return f"could not be started: {error}"
        self._started_with[row["id"]] = _settings(row)
        log.info("bot started", bot=row["id"], strategy=row["strategy"], symbol=row["symbols"][0])
        return None

    # ------------------------------------------------------------------ streams
    async def on_candle(self, candle: Candle, *, history: bool = False) -> None:
        """Feed one closed candle; ``history`` (the data pipeline's back-fill or catch-up): the strategies
        see it, the entries it signals are refused (check ``history``)."""
        if candle[:2] not in self.engine.instruments:  # market data from the failover venue
            logical = logical_instrument(self.engine, InstrumentId(candle.venue, candle.symbol))
            if logical is not None:
                candle = candle._replace(venue=logical.venue)
        key = candle[:3]
        if candle.open_time <= self._last_open.get(key, -1):
            # a data pipeline restart back-fills candles already seen; a strategy must see each once
            self.candles_repeated += 1
            return
        self._last_open[key] = candle.open_time
        self.clock.set_time(max(self.clock.timestamp_ms(), candle.close_time))
        self.engine.replaying = "a past candle of the data pipeline's back-fill" if history else None
        try:
            self.engine.on_candle(candle)
        finally:
            self.engine.replaying = None
        self.candles_seen += 1
        await self.flush()

    async def on_event(self, event: Event) -> None:
        iid = getattr(event, "instrument_id", None)
        if (
            isinstance(event, OrderFilled)
            and self._restored_trades
            and (event.client_order_id, event.trade_id) in self._restored_trades
        ):
            # the execution engine stores a fill before it publishes it: one read from the events
            # backlog after a restart is already in the restored position (applied again, it doubled it)
            log.info("fill already in the restored books", cid=event.client_order_id, trade=event.trade_id)
            return
        if isinstance(iid, InstrumentId) and iid not in self.engine.instruments:
            logical = logical_instrument(self.engine, iid)  # an order routed to the failover venue
            if logical is not None:
                event = dataclasses.replace(event, instrument_id=logical)  # type: ignore[call-arg]
        if isinstance(event, OrderDenied) and self.engine.orders.knows(event.client_order_id):
            # the gateway refused an order the engine already marked SUBMITTED: to the engine a rejection
            event = OrderRejected(
                ts_event=event.ts_event,
                ts_init=event.ts_init,
                strategy_id=event.strategy_id,
                instrument_id=event.instrument_id,
                client_order_id=event.client_order_id,
                reason=event.reason,
            )
        try:
            self.engine.handle_event(event)
        except SmcAgentError as exc:  # e.g. a late duplicate report: never fatal
            log.warning("order event not applicable", error=str(exc), kind=type(event).__name__)
        await self.flush()

    async def flush(self) -> None:
        """Publish the engine's commands to the execution engine, in order. One the stream store does
        not take (Redis restarting) stays first in line and the error is raised: the loops call this
        again, and no command is lost or overtaken (one sent twice is answered once: client order ids)."""
        async with self._flush_lock:
            if self.client.outbox:
                outbox, self.client.outbox = self.client.outbox, []
                self._unsent.extend(paired_exits(outbox))
            while self._unsent:
                await self.bus.publish(ORDERS_STREAM, encode(self._unsent[0]))
                del self._unsent[0]

    def _on_engine_event(self, event: Event) -> None:
        if isinstance(event, OrderSubmitted):
            return
        if isinstance(event, OrderDenied):
            self._queue_denial(event)
        if isinstance(event, TradingStateChanged):
            self._breaker_incident(event)
        for listener in self.listeners:
            listener(event)

    # ------------------------------------------------------------------ denials
    def _queue_denial(self, event: OrderDenied) -> None:
        """Queue a risk denial for the database (written off the loop by :meth:`_denials`)."""
        order = self.engine.orders.get(event.client_order_id)
        if order is None:  # not an order of this engine: nothing to describe it with
            log.warning("denial of an unknown order not stored", cid=event.client_order_id)
            return
        if len(self.pending_denials) == self.pending_denials.maxlen:
            self.denials_lost += 1
            log.error("denial queue full: the oldest denial is not stored", cid=self.pending_denials[0])
        self.pending_denials.append(
            Denial(
                client_order_id=event.client_order_id,
                bot_id=bot_id_of(event.strategy_id),
                exchange=order.instrument_id.venue,
                symbol=order.instrument_id.symbol,
                side=order.side.value,
                type=order.order_type.value,
                quantity=order.qty,
                price=order.price,
                stop_price=order.trigger_price,
                stop_loss=order.stop_loss,
                take_profit=order.take_profit,
                time_in_force=order.time_in_force.value,
                reduce_only=order.reduce_only,
                tag=order.tag or None,
                reason=event.reason,
                check=event.check,
                figures=dict(event.figures),
                ts=event.ts_event,
            )
        )

    def store_denials(self) -> int:
        """Write the queued denials (blocking; each in its own transaction). While the database cannot
        be reached they stay queued for the next flush (the queue is bounded: the oldest go first when
        it is full, counted in ``denials_lost``). A denial the database refuses is logged and dropped.
        Trading never waits for, or fails on, this record."""
        stored = 0
        while self.pending_denials:
            denial = self.pending_denials.popleft()
            try:
                self.repo.record_denial(denial)
            except RetryableError as exc:
                self.pending_denials.appendleft(denial)
                log.warning(
                    "database unavailable: risk denials kept for the next flush",
                    queued=len(self.pending_denials),
                    error=str(exc),
                )
                break
            except Exception as exc:
                self.denials_lost += 1
                log.error(
                    "could not store a risk denial",
                    cid=denial.client_order_id,
                    bot=denial.bot_id,
                    check=denial.check,
                    reason=denial.reason,
                    figures=dict(denial.figures),
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            stored += 1
        self.denials_recorded += stored
        return stored

    async def _denials(self) -> None:
        while not self.stopping:
            await asyncio.sleep(self.denial_flush_s)
            if self.pending_denials:
                await asyncio.to_thread(self.store_denials)

    def _breaker_incident(self, event: TradingStateChanged) -> None:
        """A risk breaker switched the trading state: publish it in the control store (every process,
        the execution engine's order gate and /v1/status see REDUCING / HALTED and why) and open (or
        attach to) its incident."""
        name = breaker_name(event.reason)
        if name is None:
            return
        try:
            self.control.set_breaker_state(event.state, reason=event.reason, actor=BREAKER_ACTOR)
        except Exception as exc:  # this engine enforces its breaker either way
            log.error("could not publish the breaker state", error=f"{type(exc).__name__}: {exc}")
        if event.state is TradingState.ACTIVE:
            return
        raise_incident(
            self.on_incident,
            cause_key=f"risk.breaker:{name}",
            priority="P1",
            title=f"Risk breaker {name}: trading {event.state.value}",
            impact=event.reason,
            source="trading-engine",
        )

    # ------------------------------------------------------------------ loops
    async def start(self) -> None:
        # positions and open orders from the database first: no strategy acts on a flat book it is not
        restored = restore_engine(self.engine, self.repo, now_ms=int(time.time() * 1000))
        self._restored_trades = restored.known_trades
        await self.flush()  # what the restore sent: trims, exits of entries that filled meanwhile
        self.sync_bots()
        self.engine.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._consume(CANDLES_STREAM, self._candle_entry), name="candles"),
            loop.create_task(self._consume(EVENTS_STREAM, self._event_entry), name="events"),
            loop.create_task(self._guard(), name="trading-guard"),
            loop.create_task(self._bots(), name="bots"),
            loop.create_task(self._denials(), name="denials"),
        ]
        log.info("trading engine started", bots=sorted(self.engine.bots))

    async def stop(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        self.engine.stop()
        if self.pending_denials:  # the last ones, bounded: a hung database must not hang the stop
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(self.store_denials), 5.0)

    async def _candle_entry(self, fields: dict[str, str]) -> None:
        await self.on_candle(decode_candle(fields), history=is_history(fields))

    async def _event_entry(self, fields: dict[str, str]) -> None:
        await self.on_event(decode(fields))

    async def _consume(self, stream: str, handle: Callable[[dict[str, str]], Any]) -> None:
        """Handle a stream's entries in order. The stream store or the database failing (a restart)
        never ends this loop: a read is retried after a pause; an entry whose handling failed in its
        flush has been applied, its commands wait in line (:meth:`flush`), and it is acknowledged."""
        consumer = self.bus.consumer(stream, group=GROUP, name=self.consumer_name)
        while not self.stopping:
            try:
                if self._unsent:
                    await self.flush()
                entries = await consumer.read(count=100, block_ms=200)
            except Exception as exc:
                log.error("ALERT stream store unreachable; retrying", stream=stream, error=_text(exc))
                await asyncio.sleep(self.retry_pause_s)
                continue
            for entry_id, fields in entries:
                try:
                    await handle(fields)
                except (ValueError, TypeError) as exc:
                    log.error("dropping malformed stream entry", stream=stream, error=str(exc))
                except Exception as exc:
                    log.error(
                        "ALERT stream entry applied, its commands not yet sent; retrying them",
                        stream=stream,
                        error=_text(exc),
                    )
                await self._ack(consumer, entry_id, stream)

    async def _ack(self, consumer: Any, entry_id: str, stream: str) -> None:
        while not self.stopping:
            try:
                await consumer.ack(entry_id)
                return
            except Exception as exc:
                log.error("ALERT stream entry not acknowledged; retrying", stream=stream, error=_text(exc))
                await asyncio.sleep(self.retry_pause_s)

    async def _guard(self) -> None:
        """Follow the control plane's trading state. A store that does not answer (Redis or the
        database restarting) never ends this loop; the execution engine meanwhile refuses every order
        it cannot check against the halt (fail closed)."""
        while not self.stopping:
            try:
                await self._follow_control()
            except Exception as exc:
                log.error("ALERT trading state unreadable; retrying", error=_text(exc))
            if self.venue_watch is not None and self.venue_watch.due():
                try:
                    await asyncio.to_thread(self.venue_watch.poll)
                except Exception as exc:
                    log.warning("active venue unknown; retrying", error=_text(exc))
            await asyncio.sleep(0.2)

    async def _follow_control(self) -> None:
        with contextlib.suppress(ControlStoreUnavailable):
            await asyncio.to_thread(self.control.kv.set, TRADING_HEARTBEAT_KEY, self.consumer_name, ttl_s=3.0)
        snap = await asyncio.to_thread(self.control.observe)
        if snap.state is TradingState.HALTED and self.engine.state is not TradingState.HALTED:
            self.engine.set_trading_state(TradingState.HALTED, snap.reason)
            await self.flush()
        elif self._released(snap.state):
            # released (an operator's resume also clears a published breaker state). A breaker's own
            # reason is kept, so its daily reset still applies; a breaker whose limit is still
            # exceeded trips again at the next candle, before any strategy hook runs.
            reason = snap.reason if breaker_name(snap.reason) else "control plane released the halt"
            was = self.engine.state
            self.engine.set_trading_state(snap.state, reason)
            resumed = was is TradingState.HALTED and snap.state is TradingState.ACTIVE
            log.warning(
                "trading resumed: the trading engine follows the control plane"
                if resumed
                else "trading state follows the control plane",
                state=snap.state.value,
                previous_state=was.value,
                reason=reason,
            )

    def _released(self, control_state: TradingState) -> bool:
        """The control plane lets this engine trade more than it does: its halt was released, or an
        operator's resume cleared the breaker state this engine is in."""
        engine = self.engine.state
        if control_state is TradingState.HALTED or engine is control_state:
            return False
        if engine is TradingState.HALTED:
            return True
        return control_state is TradingState.ACTIVE and breaker_name(self.engine.state_reason) is not None

    async def _bots(self) -> None:
        while not self.stopping:
            await asyncio.sleep(self.bot_refresh_s)
            try:
                self.sync_bots()  # on the loop: it changes the engine
            except Exception as exc:
                log.warning("bot refresh failed", error=str(exc))


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _cancel(sid: StrategyId, iid: InstrumentId, cid: Any) -> CancelOrder:
    return CancelOrder(ts_event=0, ts_init=0, strategy_id=sid, instrument_id=iid, client_order_id=cid)


def _settings(row: dict[str, Any]) -> tuple[object, ...]:
    """What a bot trades with, from its row: a change means a new strategy object."""
    return (
        row["strategy"],
        row["venue"],
        row["symbols"][0],
        row["timeframes"][0],
        repr(sorted(row["parameters"].items())),
    )
