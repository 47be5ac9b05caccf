"""The order gateway: the ONE door through which orders reach a venue.

For every order, in this order:

1. the halt state is checked (``TradingControl.halt_key_present``; no answer = halted, fail closed);
2. the intent is written to the database with its deterministic client order id (write-ahead);
   an id the database already knows is never sent again;
3. the halt state is checked again, as the last thing before the venue call;
4. the order is sent; a lost acknowledgement (timeout, connection reset) is resolved by asking the
   venue for the client order id, never by resending;
5. the venue's report is stored (status, fills -> trades -> positions) and published as events.

Sends are serialised by one lock, which cancel-all and reconciliation also take: when they run,
nothing is in flight. On a halt, working *entry* orders are cancelled on every venue and the cancel
is verified by listing the venue's open orders again; reduce-only (protective) orders stay.

The gateway is one object whose parts live beside it: lost acknowledgements (``lost_acks``), cancels
and the halt's cancel-all (``order_cancels``), reconciliation and polling (``reconciliation``), venue
reports into events (``order_reports``) and the alerts of refused exits (``refusals``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from smc_agent.control.trading import TradingControl
from smc_agent.core.clock import Clock
from smc_agent.core.commands import SubmitOco, SubmitOrder
from smc_agent.core.control import ControlStoreUnavailable
from smc_agent.core.enums import OrderStatus
from smc_agent.core.errors import RejectedError, SmcAgentError, WouldTriggerImmediately
from smc_agent.core.events import (
    Event,
)
from smc_agent.core.ids import InstrumentId, StrategyId
from smc_agent.core.ports import OrderReport, VenuePort
from smc_agent.live.incidents import IncidentHook
from smc_agent.live.lost_acks import LostAcks
from smc_agent.live.order_cancels import OrderCancels
from smc_agent.live.order_reports import OrderReports
from smc_agent.live.reconciliation import Reconciliation
from smc_agent.live.refusals import RefusalAlerts
from smc_agent.live.routing import VenueRouter
from smc_agent.logs import get_logger
from smc_agent.store.trading_repo import TradingRepo, bot_id_of

log = get_logger("smc_agent.live.gateway")

Publish = Callable[[Event], Awaitable[None]]


@dataclass(slots=True)
class GatewayStats:
    sent: int = 0
    denied_halted: int = 0
    lost_acks_resolved: int = 0
    cancelled_on_halt: int = 0
    last_cancel_all_s: float | None = None
    # (client order id, wall time the last halt check before the send was issued): halt-latency audits
    authorized: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=10_000))


class OrderGateway(LostAcks, OrderCancels, Reconciliation, OrderReports, RefusalAlerts):
    def __init__(
        self,
        *,
        venues: Mapping[str, VenuePort],
        repo: TradingRepo,
        control: TradingControl,
        clock: Clock,
        publish: Publish,
        user_id: str | None = None,
        venue_timeout_s: float = 10.0,
        router: VenueRouter | None = None,
        on_incident: IncidentHook | None = None,
        fee_wait_s: float = 30.0,
        passed_stop_grace_s: float = 10.0,
        late_ack_window_s: float = 15.0,
    ) -> None:
        self.venues = dict(venues)
        self.router = router
        self.on_incident = on_incident
        self.repo = repo
        self.control = control
        self.clock = clock
        self.publish = publish
        self.user_id = user_id
        self.venue_timeout_s = venue_timeout_s
        self.halted_reason: str | None = None
        self.reducing = False
        self.reconciled = False
        self.outage_latched = False  # set when a control-store outage was latched in the database
        self.outage_latch_pending = False  # that latch could not be written (the database down too)
        self.outage_reason = ""
        self.last_reconcile_problems: list[str] = []
        self._unreachable: dict[str, str] = {}  # venue -> its problem, from the last reconciliation
        self.stats = GatewayStats()
        self.send_lock: asyncio.Lock = asyncio.Lock()
        self._strategies: dict[str, StrategyId] = {}
        self._requested: dict[str, InstrumentId] = {}  # orders routed to another venue: the asked one
        self._cancel_task: asyncio.Task[int] | None = None
        # venues whose entries a halt's cancel-all could not verify cancelled: tried again at every poll
        self.cancel_unverified: set[str] = set()
        self.fee_wait_s = fee_wait_s
        self._fee_waits: dict[str, float] = {}  # fills waiting for their trades: since (monotonic)
        self._lots: dict[InstrumentId, Decimal] = {}
        self._lots_retry: dict[str, float] = {}  # venue -> when to read its instruments again
        for venue in self.venues.values():  # an order resent after a throttle passes the halt check again
            if hasattr(venue, "may_send"):
                venue.may_send = self._denial
        # stop-losses refused because the market had passed them: (deadline (monotonic), reason) each;
        # the trading engine closes their positions at market, a P1 is raised if it has not by then
        self.passed_stop_grace_s = passed_stop_grace_s
        self._passed_stops: dict[str, tuple[float, str]] = {}
        # orders whose acknowledgement was lost and which the venue did not know when asked: a request
        # can still reach it until the venue's receive window (Binance 10 s, Bybit 5 s; its timestamp)
        # is past. Asked again at every poll until then (deadline, monotonic), only then rejected
        self.late_ack_window_s = late_ack_window_s
        # the symbols this engine trades (beside those of its stored orders and bots): their venue
        # fills are compared with the database's orders after a restore
        self.traded_symbols: tuple[str, ...] = ()
        self._unconfirmed: dict[str, tuple[InstrumentId, Decimal | None, float]] = {}

    # ================================================================ halt state
    @property
    def halted(self) -> bool:
        return self.halted_reason is not None

    def _denial(self, cmd: SubmitOrder) -> str | None:
        """Why ``cmd`` may not be sent now (None = allowed). Raises nothing: fails closed."""
        if self.halted_reason is not None:
            return self.halted_reason
        if not self.reconciled:
            return "not reconciled with the venue yet"
        try:
            present = self.control.halt_key_present()
        except ControlStoreUnavailable as exc:
            self.store_outage(f"control store unreachable (fail closed): {exc}")
            return self.halted_reason
        if present:
            self.enter_halt("emergency_halt is set")
            return self.halted_reason
        if self.reducing and not cmd.reduce_only:
            return "trading state REDUCING: only reduce-only orders"
        return None

    def store_outage(self, reason: str) -> None:
        """The control store did not answer: halt, and latch the halt in the database at once so that
        the store coming back (empty, or after a restart) never resumes trading by itself."""
        first = not self.outage_latched
        self.outage_latched = True
        self.enter_halt(reason)
        if first:
            log.error("ALERT control store unreachable: trading halted (fail closed)", reason=reason)
            self.outage_reason = reason
            try:
                self.control.halt(reason=reason, actor="execution-engine", source="fail-closed")
                self.outage_latch_pending = False
            except Exception as exc:  # latched by the halt guard once the stores answer
                self.outage_latch_pending = True
                log.error(
                    "could not latch the halt in the database either; it is latched when it answers",
                    error=str(exc),
                )

    def enter_halt(self, reason: str) -> None:
        """Stop sending at once and cancel working entry orders on every venue (in the background)."""
        if self.halted_reason is None:
            self.halted_reason = reason
            log.warning("order gateway halted: no new orders; cancelling working entry orders", reason=reason)
        if self._cancel_task is None or self._cancel_task.done():
            self._cancel_task = asyncio.get_running_loop().create_task(self.cancel_entries())

    def leave_halt(self) -> None:
        self.halted_reason = None
        self.cancel_unverified = set()

    def close(self) -> None:
        if self._cancel_task is not None and not self._cancel_task.done():
            self._cancel_task.cancel()

    async def wait_cancelled(self) -> int:
        task = self._cancel_task
        return 0 if task is None else await task

    # ================================================================ commands
    def _route(self, cmd: SubmitOrder) -> SubmitOrder:
        if self.router is not None:
            routed = self.router.route(cmd)  # new orders follow the active venue (failover)
            if routed is not cmd:  # the engine keeps its own instrument: events name the one it asked for
                self._requested[cmd.client_order_id] = cmd.instrument_id
            cmd = routed
        self._strategies[cmd.client_order_id] = cmd.strategy_id
        return cmd

    async def submit(self, cmd: SubmitOrder) -> OrderReport | None:
        return await self._submit_one(cmd)

    async def _submit_one(self, cmd: SubmitOrder, *, routed: bool = False) -> OrderReport | None:
        reason = self._denial(cmd)
        if reason is not None:
            self.stats.denied_halted += 1
            await self._deny(cmd, reason)
            return None
        async with self.send_lock:
            if not routed:  # routed once it holds the lock: a failover seen while it waited moves it
                cmd = self._route(cmd)
            if not self.repo.record_intent(cmd, user_id=self.user_id, bot_id=bot_id_of(cmd.strategy_id)):
                stored = self.repo.get(cmd.client_order_id)
                if stored is not None and stored.is_open:
                    return await self._refresh_one(stored)
                if stored is not None:  # its id was used by an order now closed: not sent again, and the
                    # engine, which asked again (a signal replayed after a restart), must not wait for it
                    reason = (
                        f"client order id already used by an order that is {stored.status} here; not resent"
                    )
                    await self._event_rejected(cmd.instrument_id, cmd.client_order_id, reason, alert=False)
                return None
            # the last check, after the intent (which carries the send time: a database that makes the
            # write wait delays the check, never the send), immediately before the venue call; stamped
            # when the check is issued: a
            # halt key read that Redis answers after the SET sees the key, so every authorised order's
            # check was issued before the SET returned (the stamp after the reply could be later)
            checked_at = time.time()
            reason = self._denial(cmd)
            if reason is not None:
                self.stats.denied_halted += 1
                self.repo.mark(cmd.client_order_id, OrderStatus.DENIED, reason)
                await self._deny(cmd, reason)
                return None
            self.stats.authorized.append((cmd.client_order_id, checked_at))
            if cmd.cancel_first:  # a close: the orders it replaces go first, now that it goes
                await self._cancel_before(cmd)
                cmd = replace(cmd, cancel_first=())
                self._stamp_sending(cmd.client_order_id)  # it leaves after its cancels (an exit)
            self.stats.sent += 1
            report = await self._send(cmd)
            if report is not None:
                await self._apply(report, market_price=cmd.reference_price)
            return report

    async def submit_oco(self, msg: SubmitOco) -> None:
        """A position's stop-loss and take-profit. Where the venue has order lists (Binance spot OCO)
        they go out as one: both legs share the coins they would sell (placed one after the other, the
        first would hold them and the venue would refuse the second), and the venue expires one leg
        when the other executes. Elsewhere, or when either id is known here already, one after the
        other through :meth:`submit`, the stop first. A list the venue refuses as a whole (a target
        the price has passed) leaves the stop to go alone: the position is never left without it."""
        stop, target = self._route(msg.stop), self._route(msg.target)
        venue = self.venues.get(stop.instrument_id.venue)
        if (
            venue is None
            or not getattr(venue, "supports_oco", False)
            or stop.instrument_id != target.instrument_id
        ):
            await self._submit_each(stop, target)
            return
        legs = (stop, target)
        reason = self._denial(stop)  # exits alike: reduce-only, same instrument
        if reason is not None:
            self.stats.denied_halted += 2
            for leg in legs:
                await self._deny(leg, reason)
            return
        async with self.send_lock:
            if self.repo.record_intents(legs, user_id=self.user_id, bot_id=bot_id_of(stop.strategy_id)):
                checked_at = time.time()
                reason = self._denial(stop)
                if reason is not None:
                    self.stats.denied_halted += 2
                    for leg in legs:
                        self.repo.mark(leg.client_order_id, OrderStatus.DENIED, reason)
                        await self._deny(leg, reason)
                    return
                for leg in legs:
                    self.stats.authorized.append((leg.client_order_id, checked_at))
                self.stats.sent += 1
                await self._send_oco(venue, stop, target)
                return
        # an id known here already (a command delivered again): each leg on its own, idempotently
        await self._submit_each(stop, target)

    async def _submit_each(self, *cmds: SubmitOrder) -> None:
        """Each order on its own, in turn: one whose outcome is unknown (the venue did not answer) does
        not keep the next from being sent; reconciliation settles it later, as for any order."""
        for cmd in cmds:
            try:
                await self._submit_one(cmd, routed=True)
            except (SmcAgentError, TimeoutError, OSError) as exc:
                log.error(
                    "ALERT order outcome unknown: the venue did not answer; reconciliation settles it",
                    cid=cmd.client_order_id,
                    error=f"{type(exc).__name__}: {exc}",
                )

    def _stamp_sending(self, cid: str) -> None:
        """A send time later than the intent's, for a restart to know how long a lost answer's request
        may still arrive. A database that does not take it does not stop the send (a restart then
        counts from the intent: a shorter wait)."""
        try:
            self.repo.mark_sending(cid)
        except Exception as exc:
            log.warning("could not stamp an order's send time", cid=cid, error=str(exc))

    async def _send_oco(self, venue: VenuePort, stop: SubmitOrder, target: SubmitOrder) -> None:
        try:
            reports = await asyncio.wait_for(venue.submit_oco(stop, target), self.venue_timeout_s)  # type: ignore[attr-defined]
        except RejectedError as exc:
            log.warning(
                "OCO list refused by the venue; the stop-loss goes alone",
                cid=stop.client_order_id,
                error=str(exc),
            )
            reason = f"OCO list refused: {exc}"
            self.repo.mark(target.client_order_id, OrderStatus.REJECTED, reason)
            await self._event_rejected(target.instrument_id, target.client_order_id, reason)
            report = await self._send(stop)
            if report is not None:
                await self._apply(report, market_price=stop.reference_price)
            return
        except (SmcAgentError, TimeoutError, OSError) as exc:
            log.warning(
                "OCO acknowledgement lost; asking the venue for its legs",
                cid=stop.client_order_id,
                error=str(exc),
            )
            found = [await self._unacknowledged(venue, leg) for leg in (stop, target)]
            reports = tuple(report for report in found if report is not None)
        for report in reports:
            await self._apply(report, market_price=stop.reference_price)

    async def _send(self, cmd: SubmitOrder) -> OrderReport | None:
        venue = self._venue(cmd.instrument_id)
        cid = cmd.client_order_id
        try:
            return await asyncio.wait_for(venue.submit_order(cmd), self.venue_timeout_s)
        except RejectedError as exc:
            self.repo.mark(cid, OrderStatus.REJECTED, f"{type(exc).__name__}: {exc}")
            passed = isinstance(exc, WouldTriggerImmediately)
            await self._event_rejected(cmd.instrument_id, cid, str(exc), passed=passed)
            return None
        except (SmcAgentError, TimeoutError, OSError) as exc:
            log.warning(
                "order acknowledgement lost; asking the venue by client order id", cid=cid, error=str(exc)
            )
        return await self._unacknowledged(venue, cmd)

    def _venue(self, iid: InstrumentId) -> VenuePort:
        venue = self.venues.get(iid.venue)
        if venue is None:
            raise RejectedError(f"no venue {iid.venue!r} configured (have {sorted(self.venues)})")
        return venue
