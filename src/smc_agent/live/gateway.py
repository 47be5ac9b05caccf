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
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from smc_agent.control.trading import TradingControl
from smc_agent.core.clock import Clock
from smc_agent.core.commands import CancelOrder, SubmitOco, SubmitOrder
from smc_agent.core.control import ControlStoreUnavailable
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderStatus, OrderType
from smc_agent.core.errors import OrderNotFound, RejectedError, SmcAgentError, WouldTriggerImmediately
from smc_agent.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
)
from smc_agent.core.fill import Fill
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from smc_agent.core.ports import OrderReport, VenuePort
from smc_agent.execution.ids import child_order_id, child_role, parent_order_id, sibling_order_id
from smc_agent.live.incidents import IncidentHook, raise_incident
from smc_agent.live.routing import VenueRouter
from smc_agent.logs import get_logger
from smc_agent.store.trading_repo import ReportOutcome, StoredOrder, TradingRepo, bot_id_of

log = get_logger("smc_agent.live.gateway")

Publish = Callable[[Event], Awaitable[None]]
OUR_PREFIX = "smc-"
# the venue's fills compared with the database's orders at each reconciliation: from the newest
# order's creation less this (our clock against the venue's), in pages, at most this many
HISTORY_MARGIN_MS = 60_000
HISTORY_PAGE = 500
HISTORY_PAGES = 20
LOTS_RETRY_S = 60.0


@dataclass(slots=True)
class GatewayStats:
    sent: int = 0
    denied_halted: int = 0
    lost_acks_resolved: int = 0
    cancelled_on_halt: int = 0
    last_cancel_all_s: float | None = None
    # (client order id, wall time the last halt check before the send was issued): halt-latency audits
    authorized: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=10_000))


def _since_sent_s(stored: StoredOrder) -> float:
    """Seconds since ``stored`` was last sent (never sent: as long ago as can be)."""
    if stored.submitted_at is None:
        return float("inf")
    return (datetime.now(UTC) - stored.submitted_at).total_seconds()  # UTCDateTime: always aware


def _is_entry(report: OrderReport, stored: StoredOrder | None) -> bool:
    """An entry order: not reduce-only in our database, or, unknown there, one of ours by its id prefix."""
    if stored is None:
        return report.client_order_id.startswith(OUR_PREFIX)
    return not stored.reduce_only


class OrderGateway:
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
        self.send_lock = asyncio.Lock()
        self._strategies: dict[str, StrategyId] = {}
        self._requested: dict[str, InstrumentId] = {}  # orders routed to another venue: the asked one
        self._cancel_task: asyncio.Task[int] | None = None
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

    async def _cancel_before(self, cmd: SubmitOrder) -> None:
        """Cancel the orders a close replaces (its stop and target) before the close is sent: a spot
        venue holds their coins. One that cannot be canceled does not stop the close: the position is
        better closed, and an exit left working once it is flat is canceled by the engine then."""
        for cid in cmd.cancel_first:
            stored = self.repo.get(cid)
            if stored is None or not stored.is_open:
                continue
            try:
                await self._cancel_stored(stored)
            except (SmcAgentError, TimeoutError, OSError) as exc:
                log.error("could not cancel an order before the close replacing it", cid=cid, error=str(exc))

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

    async def _unacknowledged(self, venue: VenuePort, cmd: SubmitOrder) -> OrderReport | None:
        """The venue's report of ``cmd``, whose acknowledgement was lost, found by its client order id;
        never resent: an order the venue does not know is marked rejected."""
        cid = cmd.client_order_id
        report = await self._find(venue, cmd.instrument_id, cid)
        if report is None:
            if self.late_ack_window_s > 0:  # it may still arrive: asked again by poll(), never resent
                self._unconfirm(cid, cmd.instrument_id, cmd.reference_price, self.late_ack_window_s)
                return None
            await self._never_arrived(cmd.instrument_id, cid)
            return None
        self.stats.lost_acks_resolved += 1
        log.info("lost acknowledgement resolved by client order id", cid=cid, status=report.status.value)
        return report

    def _unconfirm(self, cid: str, iid: InstrumentId, reference: Decimal | None, window_s: float) -> None:
        self._unconfirmed[cid] = (iid, reference, time.monotonic() + window_s)
        log.warning(
            "order not found at the venue after a lost acknowledgement; asked again until the venue's "
            "receive window has passed",
            cid=cid,
            seconds=round(window_s, 1),
        )

    async def _never_arrived(self, iid: InstrumentId, cid: ClientOrderId) -> None:
        reason = "no acknowledgement and the venue does not know the client order id; not resent"
        self.repo.mark(cid, OrderStatus.REJECTED, reason)
        await self._event_rejected(iid, cid, reason)

    async def _look_up_unconfirmed(self) -> dict[str, OrderReport | None]:
        """One lookup of each order whose acknowledgement was lost and which the venue did not know:
        its report, ``None`` where the venue does not know it; left out where the venue did not answer.
        Run outside the send lock: a venue that hangs never holds up a halt's cancel-all."""
        found: dict[str, OrderReport | None] = {}
        for cid, (iid, _reference, _deadline) in list(self._unconfirmed.items()):
            try:
                venue = self._venue(iid)
                found[cid] = await asyncio.wait_for(
                    venue.fetch_order(iid, client_order_id=ClientOrderId(cid)), self.venue_timeout_s
                )
            except OrderNotFound:
                found[cid] = None
            except (SmcAgentError, TimeoutError, OSError) as exc:
                log.warning("venue lookup of an unacknowledged order failed", cid=cid, error=str(exc))
        return found

    async def _settle_unconfirmed(self, found: dict[str, OrderReport | None]) -> None:
        """Apply what :meth:`_look_up_unconfirmed` found: a report is applied (a late request placed the
        order; an entry found working while halted is canceled with the others); an order the venue
        still does not know once the receive window has passed never arrived: rejected."""
        for cid, report in found.items():
            entry = self._unconfirmed.get(cid)
            if entry is None:
                continue
            iid, reference, deadline = entry
            if report is not None:
                del self._unconfirmed[cid]
                self.stats.lost_acks_resolved += 1
                log.warning(
                    "order placed by a late request found at the venue", cid=cid, status=report.status.value
                )
                await self._apply(report, market_price=reference)
                if self.halted_reason is not None and report.status.is_open:
                    self.enter_halt(self.halted_reason)  # cancel-all again: it may be an entry
            elif time.monotonic() >= deadline:
                del self._unconfirmed[cid]
                await self._never_arrived(iid, ClientOrderId(cid))

    async def _find(self, venue: VenuePort, iid: InstrumentId, cid: ClientOrderId) -> OrderReport | None:
        for attempt in range(5):
            try:
                return await asyncio.wait_for(
                    venue.fetch_order(iid, client_order_id=cid), self.venue_timeout_s
                )
            except OrderNotFound:
                return None
            except (SmcAgentError, TimeoutError, OSError) as exc:
                log.warning("venue lookup by client id failed; retrying", cid=cid, error=str(exc))
                await asyncio.sleep(0.2 * (attempt + 1))
        raise TimeoutError(f"venue {venue.venue} did not answer about order {cid}")

    async def cancel(self, cmd: CancelOrder) -> None:
        stored = self.repo.get(cmd.client_order_id)
        if stored is None or not stored.is_open:
            return
        if self._stop_listed_with(stored):
            # on a venue with order lists the target shares one with the position's stop, and canceling
            # either leg cancels both: the position would lose its stop. The target stays.
            reason = "a take-profit in an OCO list with the position's stop-loss is not canceled alone"
            log.warning("cancel refused: it would cancel the position's stop too", cid=cmd.client_order_id)
            now = self.clock.timestamp_ms()
            await self.publish(
                OrderCancelRejected(
                    ts_event=now,
                    ts_init=now,
                    strategy_id=cmd.strategy_id,
                    instrument_id=cmd.instrument_id,
                    client_order_id=cmd.client_order_id,
                    reason=reason,
                )
            )
            return
        async with self.send_lock:
            await self._cancel_stored(stored)

    def _stop_listed_with(self, stored: StoredOrder) -> bool:
        """Whether ``stored`` is a take-profit whose stop-loss is open beside it on a venue with order
        lists (where the two went out as one OCO list)."""
        if child_role(stored.client_order_id) != "tp":
            return False
        if not getattr(self.venues.get(stored.exchange), "supports_oco", False):
            return False
        stop = self.repo.get(str(sibling_order_id(stored.client_order_id)))
        return stop is not None and stop.is_open and stop.exchange == stored.exchange

    async def _cancel_stored(self, stored: StoredOrder) -> bool:
        venue = self.venues.get(stored.exchange)
        if venue is None:
            return False
        iid = InstrumentId(stored.exchange, stored.symbol)
        cid = ClientOrderId(stored.client_order_id)
        vid = None if stored.venue_order_id is None else VenueOrderId(stored.venue_order_id)
        report: OrderReport | None
        try:
            report = await asyncio.wait_for(
                venue.cancel_order(iid, client_order_id=cid, venue_order_id=vid), self.venue_timeout_s
            )
        except OrderNotFound:
            report = await self._find(venue, iid, cid)
            if report is None:
                return False
        await self._apply(report)
        return report.status is OrderStatus.CANCELED

    # ================================================================ halt: cancel entries
    async def cancel_entries(self) -> int:
        """Cancel every working entry (non reduce-only) order on every venue and verify it."""
        started = time.perf_counter()
        cancelled = 0
        async with self.send_lock:  # nothing in flight while we list and cancel
            for name, venue in self.venues.items():
                for _ in range(5):
                    try:
                        reports = await asyncio.wait_for(venue.fetch_open_orders(), self.venue_timeout_s)
                    except (SmcAgentError, TimeoutError, OSError) as exc:
                        log.error(
                            "cannot list open orders to cancel them; retrying", venue=name, error=str(exc)
                        )
                        await asyncio.sleep(0.5)
                        continue
                    # one query for the whole listing (a lookup per order would block the loop per order)
                    stored = self.repo.get_many([r.client_order_id for r in reports])
                    targets = [r for r in reports if _is_entry(r, stored.get(r.client_order_id))]
                    if not targets:
                        break
                    cancelled += await self._cancel_reports(venue, targets, stored)
                else:
                    log.error("ALERT working entry orders could not be verified cancelled", venue=name)
        elapsed = time.perf_counter() - started
        self.stats.cancelled_on_halt += cancelled
        self.stats.last_cancel_all_s = elapsed
        log.warning(
            "working entry orders cancelled and verified", cancelled=cancelled, seconds=round(elapsed, 4)
        )
        return cancelled

    async def _cancel_reports(
        self, venue: VenuePort, targets: list[OrderReport], stored: dict[str, StoredOrder]
    ) -> int:
        limit = asyncio.Semaphore(16)  # concurrent cancels per venue

        async def one(report: OrderReport) -> bool:
            async with limit:
                return await self._cancel_report(venue, report, stored)

        results = await asyncio.gather(*(one(r) for r in targets), return_exceptions=True)
        return sum(1 for r in results if r is True)

    async def _cancel_report(
        self, venue: VenuePort, report: OrderReport, stored: dict[str, StoredOrder]
    ) -> bool:
        try:
            result = await asyncio.wait_for(
                venue.cancel_order(report.instrument_id, venue_order_id=report.venue_order_id),
                self.venue_timeout_s,
            )
        except OrderNotFound:
            return False
        cid = result.client_order_id or report.client_order_id
        known = cid in stored if cid == report.client_order_id else self.repo.get(cid) is not None
        if known:
            await self._apply(result if result.client_order_id else report)
        return result.status is OrderStatus.CANCELED

    # ================================================================ reconciliation
    async def reconcile(self) -> list[str]:
        """Bring every open database order up to the venue's state and look for orders the database
        does not know. An unexplained mismatch halts trading (latched) and raises an alert."""
        problems: list[str] = []
        unreachable: dict[str, str] = {}
        async with self.send_lock:
            for stored in self.repo.open_orders():
                if stored.exchange not in self.venues:
                    problems.append(f"order {stored.client_order_id} on unconfigured venue {stored.exchange}")
            for name, venue in self.venues.items():
                try:
                    problems += await self._reconcile_venue(name, venue)
                except (SmcAgentError, TimeoutError, OSError) as exc:
                    unreachable[name] = f"venue {name} unreachable: {exc}"
                    problems.append(unreachable[name])
        self.last_reconcile_problems, self._unreachable = problems, unreachable
        unexplained = [p for p in problems if p not in unreachable.values()]
        if unexplained:
            reason = "reconciliation mismatch: " + "; ".join(unexplained)[:500]
            log.error(
                "ALERT reconciliation found an unexplained mismatch: halting trading", problems=unexplained
            )
            self.control.halt(reason=reason, actor="execution-engine", source="reconciliation")
            self.enter_halt(reason)
            raise_incident(
                self.on_incident,
                cause_key="reconciliation.mismatch",
                priority="P1",
                title="Reconciliation mismatch with the venue: trading halted",
                impact=reason,
                source="execution-engine",
            )
        elif not self.blocking(problems):
            self.reconciled = True
        return problems

    def blocking(self, problems: list[str]) -> list[str]:
        """The problems that keep orders from going out: all but an unreachable venue that a failover
        moved away from (it is reconciled when it answers again; new orders go elsewhere)."""
        active = self.router.refresh() if self.router is not None else None
        if active is None or active not in self.venues:
            return problems
        ignored = {p for venue, p in self._unreachable.items() if venue != active}
        return [p for p in problems if p not in ignored]

    async def _reconcile_venue(self, name: str, venue: VenuePort) -> list[str]:
        problems: list[str] = []
        reports = await asyncio.wait_for(venue.fetch_open_orders(), self.venue_timeout_s)
        by_cid = {r.client_order_id: r for r in reports}
        for stored in self.repo.open_orders(name):
            if stored.client_order_id in self._unconfirmed:  # settled by poll() within its window
                continue
            if stored.bot_id:  # after a restart: events of orders sent before it still name their bot
                self._strategies.setdefault(stored.client_order_id, StrategyId(stored.bot_id))
            report = by_cid.get(ClientOrderId(stored.client_order_id))
            if report is not None:  # still working at the venue: one listing covers it
                await self._apply(report)
            elif await self._refresh_one(stored) is None and stored.status != OrderStatus.INITIALIZED:
                problems.append(
                    f"order {stored.client_order_id} is {stored.status} in the database but unknown at {name}"
                )
        problems += await self._venue_history(name, venue)
        for r in reports:
            if not r.client_order_id.startswith(OUR_PREFIX):
                continue
            stored_row = self.repo.get(r.client_order_id)
            if stored_row is None:
                problems.append(f"open order {r.client_order_id} at {name} is not in the database")
            elif not stored_row.is_open:  # e.g. rejected here, placed by a request that arrived late
                problems.append(
                    f"open order {r.client_order_id} at {name} is {stored_row.status} in the database"
                )
        return problems

    async def _venue_history(self, name: str, venue: VenuePort) -> list[str]:
        """The venue's fills since the newest order the database holds for each symbol must all be
        of orders it knows. A database restored from a backup older than some fills (or an account
        traded outside the engine) holds a position that is not the venue's: each such order is a
        problem, until the database learns it (an order of ours whose intent it holds: applied) or the
        operator accepts the venue's history (``smc-agent reconcile accept``)."""
        problems: list[str] = []
        for symbol, since in self.repo.history_starts(name, margin_ms=HISTORY_MARGIN_MS).items():
            iid = InstrumentId(name, symbol)
            fills: list[Fill] = []
            start = since
            for _ in range(HISTORY_PAGES):
                page = await asyncio.wait_for(
                    venue.fetch_fills(iid, since_ms=start, limit=HISTORY_PAGE), self.venue_timeout_s
                )
                fills += page
                if len(page) < HISTORY_PAGE:
                    break
                start = max(f.ts_event for f in page) + 1
            else:
                problems.append(
                    f"more than {len(fills)} fills at {name} {symbol} since the newest order here"
                )
            ids = {str(f.venue_order_id) for f in fills if f.venue_order_id}
            for vid in sorted(ids - self.repo.known_venue_order_ids(name, ids)):
                report = await self._find_by_venue_id(venue, iid, VenueOrderId(vid))
                stored = None if report is None else self.repo.get(report.client_order_id)
                if report is not None and stored is not None:  # e.g. an intent whose ack was lost
                    await self._apply(report)
                    continue
                cid = "" if report is None else f" ({report.client_order_id})"
                problems.append(
                    f"order {vid}{cid} filled at {name} {symbol} is not in the database (restored from "
                    "an older backup, or traded outside the engine): `smc-agent reconcile accept` "
                    "once the account is reconciled by hand"
                )
        return problems

    async def _find_by_venue_id(
        self, venue: VenuePort, iid: InstrumentId, vid: VenueOrderId
    ) -> OrderReport | None:
        try:
            return await asyncio.wait_for(venue.fetch_order(iid, venue_order_id=vid), self.venue_timeout_s)
        except OrderNotFound:
            return None

    async def _refresh_one(self, stored: StoredOrder) -> OrderReport | None:
        """Ask the venue about one stored order and apply the answer. A write-ahead intent the venue
        does not know never reached it (crash before the send): it is closed, not resent."""
        if stored.client_order_id in self._unconfirmed:  # asked by poll() until its window has passed
            return None
        venue = self.venues[stored.exchange]
        iid = InstrumentId(stored.exchange, stored.symbol)
        cid = ClientOrderId(stored.client_order_id)
        report = await self._find(venue, iid, cid)
        if report is None:
            # sent just before a restart: its request (every retry within venue_timeout_s of the
            # send) may still reach the venue within the receive window
            left = self.late_ack_window_s + self.venue_timeout_s - _since_sent_s(stored)
            if stored.status == OrderStatus.INITIALIZED and left > 0:
                self._unconfirm(cid, iid, None, left)
            elif stored.status == OrderStatus.INITIALIZED:
                reason = (
                    "write-ahead intent never reached the venue (process stopped before the send); not resent"
                )
                self.repo.mark(cid, OrderStatus.REJECTED, reason)
                await self._event_rejected(iid, cid, reason)
            return None
        await self._apply(report)
        return report

    async def poll(self) -> None:
        """Pick up fills and cancels of working orders (one open-orders listing per venue). A venue
        that does not answer (e.g. the one just failed over from) never stops the others' polling."""
        self._check_passed_stops()
        found = await self._look_up_unconfirmed() if self._unconfirmed else {}
        async with self.send_lock:
            if found:
                await self._settle_unconfirmed(found)
            for name, venue in self.venues.items():
                try:
                    await self._poll_venue(name, venue)
                except (SmcAgentError, TimeoutError, OSError) as exc:
                    log.warning("polling working orders failed", venue=name, error=str(exc))

    async def _poll_venue(self, name: str, venue: VenuePort) -> None:
        stored_open = [o for o in self.repo.open_orders(name) if o.status != OrderStatus.INITIALIZED]
        if not stored_open:
            return
        reports: dict[str, OrderReport] = {
            r.client_order_id: r
            for r in await asyncio.wait_for(venue.fetch_open_orders(), self.venue_timeout_s)
        }
        for stored in stored_open:
            report = reports.get(stored.client_order_id)
            if report is None:
                await self._refresh_one(stored)
            elif report.filled_qty != stored.filled_quantity or report.status.value != stored.status:
                await self._apply(report)

    # ================================================================ reports -> events
    async def _apply(self, report: OrderReport, *, market_price: Decimal | None = None) -> None:
        lot = None
        if report.filled_qty > 0:
            if report.fee is None:
                report = await self._with_fees(report)
            lot = await self._lot(report.instrument_id)
        outcome = self.repo.apply_report(report, market_price=market_price, lot=lot)
        for event in self._events(report, outcome):
            await self.publish(event)

    async def _lot(self, iid: InstrumentId) -> Decimal | None:
        """The lot step of ``iid`` (the venue's instruments, read once); ``None`` while the venue does
        not say (asked again after ``LOTS_RETRY_S``, not at every fill: a fill waits for the answer).
        Without it, the database and the trading engine keep dust alike."""
        if iid not in self._lots and time.monotonic() >= self._lots_retry.get(iid.venue, 0.0):
            try:
                instruments = await asyncio.wait_for(
                    self._venue(iid).load_instruments(), self.venue_timeout_s
                )
            except (SmcAgentError, TimeoutError, OSError) as exc:
                log.warning("could not read the venue's lot steps", venue=iid.venue, error=str(exc))
                instruments = []
            self._lots.update((i.id, i.qty_increment) for i in instruments)
            if iid not in self._lots:
                self._lots_retry[iid.venue] = time.monotonic() + LOTS_RETRY_S
        return self._lots.get(iid)

    async def _with_fees(self, report: OrderReport) -> OrderReport:
        """``report`` with the fees of its fills, from the order's trades at the venue (an order report
        does not carry them on Binance; a spot buy pays its fee in the coin bought, so the position is
        what the trades say). A fill is booked only with its fees: while the venue cannot list the
        trades of what it reports filled (it did not answer, or its trade list lags its order), the
        report is applied without the new fill, which the next poll brings again; after
        ``fee_wait_s`` of that, the fill is booked with the fees of the trades listed (an error)."""
        cid = report.client_order_id
        stored = self.repo.get(cid)
        booked_qty = stored.filled_quantity if stored is not None else Decimal(0)
        if report.filled_qty <= booked_qty:
            return report  # nothing new filled: the fees booked stand
        fills: list[Fill] = []
        error = ""
        try:
            fills = list(
                await asyncio.wait_for(
                    self._venue(report.instrument_id).fetch_order_fills(
                        report.instrument_id, report.venue_order_id
                    ),
                    self.venue_timeout_s,
                )
            )
        except (SmcAgentError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        listed = sum((f.qty for f in fills), Decimal(0))
        if listed < report.filled_qty:
            since = self._fee_waits.setdefault(cid, time.monotonic())
            facts = {"cid": cid, "filled": str(report.filled_qty), "listed": str(listed), "error": error}
            if time.monotonic() - since < self.fee_wait_s:
                log.warning(
                    "the venue has not listed the trades of a fill yet: booked at the next poll", **facts
                )
                status = OrderStatus.PARTIALLY_FILLED if booked_qty > 0 else OrderStatus.ACCEPTED
                return replace(report, filled_qty=booked_qty, status=status, fee=None)
            log.error("ALERT a fill booked without the fees of trades the venue never listed", **facts)
        self._fee_waits.pop(cid, None)
        charged = [f for f in fills if f.fee]
        currency = charged[0].fee_currency if charged else ""
        fee = sum((f.fee for f in charged if f.fee_currency == currency), Decimal(0))
        if any(f.fee_currency != currency for f in charged):
            log.warning(
                "an order's fees in more than one currency: only those in the first are booked",
                cid=cid,
                currencies=sorted({f.fee_currency for f in charged}),
            )
        if listed > report.filled_qty:  # the trade list is ahead of the order report: its share
            fee = fee * report.filled_qty / listed
        return replace(report, fee=fee, fee_currency=currency)

    def _events(self, r: OrderReport, o: ReportOutcome) -> list[Event]:
        now = self.clock.timestamp_ms()
        sid = self._strategies.get(r.client_order_id, StrategyId(""))
        base: dict[str, Any] = {
            "ts_event": r.ts_event or now,
            "ts_init": now,
            "strategy_id": sid,
            "instrument_id": self._requested.get(r.client_order_id, r.instrument_id),
            "client_order_id": r.client_order_id,
        }
        out: list[Event] = []
        if o.previous == OrderStatus.INITIALIZED and o.status != OrderStatus.REJECTED:
            out.append(OrderAccepted(**base, venue_order_id=r.venue_order_id))
        if o.fill_qty > 0 and o.fill_price is not None:
            out.append(
                OrderFilled(
                    **base,
                    venue_order_id=r.venue_order_id,
                    trade_id=TradeId(o.trade_id or ""),
                    side=OrderSide(r.side),
                    qty=o.fill_qty,
                    price=o.fill_price,
                    fee=o.fee,
                    fee_currency=o.fee_currency,
                    liquidity=LiquiditySide.TAKER,
                    is_last=o.status == OrderStatus.FILLED,
                    written_off=o.written_off,
                    written_off_cost=o.written_off_cost,
                )
            )
        if o.previous != o.status:
            if o.status == OrderStatus.CANCELED:
                out.append(OrderCanceled(**base, reason="canceled at venue"))
            elif o.status == OrderStatus.EXPIRED:
                out.append(OrderExpired(**base))
            elif o.status == OrderStatus.TRIGGERED:  # a venue stop whose trigger was reached, not yet filled
                out.append(OrderTriggered(**base))
            elif o.status == OrderStatus.REJECTED:
                self._protective_refused(r.client_order_id, "rejected by venue")
                out.append(OrderRejected(**base, reason="rejected by venue"))
        return out

    async def _deny(self, cmd: SubmitOrder, reason: str) -> None:
        now = self.clock.timestamp_ms()
        await self.publish(
            OrderDenied(
                ts_event=now,
                ts_init=now,
                strategy_id=cmd.strategy_id,
                instrument_id=self._requested.get(cmd.client_order_id, cmd.instrument_id),
                client_order_id=cmd.client_order_id,
                reason=reason,
                check="trading_halted",
            )
        )

    def _protective_refused(self, cid: ClientOrderId, reason: str, *, passed: bool = False) -> None:
        """A position's stop-loss the venue refused leaves it unprotected: an error and a P1 incident
        (a refused take-profit only loses the target: a warning). So does a refused close (a reduce-only
        market order): the engine canceled the position's stop and target before sending it.

        A stop refused because the market has already ``passed`` it (the entry filled beyond its stop)
        is a market move the trading engine answers by closing the position at market (``-ex``) within
        a moment: a warning, and the P1 only if that close has not filled ``passed_stop_grace_s`` later
        (denied by a halt, refused, never sent)."""
        role = child_role(cid)
        if role == "tp":
            log.warning(
                "take-profit refused by the venue; the position keeps its stop", cid=cid, reason=reason
            )
            return
        if role is None:
            self._close_refused(cid, reason)
            return
        if passed and role == "sl":
            log.warning(
                "stop-loss refused by the venue: the market has already passed it; the trading engine "
                "closes the position at market",
                cid=cid,
                reason=reason,
            )
            self._passed_stops[cid] = (time.monotonic() + self.passed_stop_grace_s, reason)
            return
        self._stop_refused_incident(cid, reason)

    def _check_passed_stops(self) -> None:
        """The stops refused because the market had passed them: settled once the position's market
        close filled (or the bot holds nothing left on the stop's side); a position still held at the
        deadline is unprotected: a P1. A database that does not answer settles nothing."""
        now = time.monotonic()
        for cid, (deadline, reason) in list(self._passed_stops.items()):
            parent = parent_order_id(cid)
            close_id = child_order_id(parent, "ex") if parent is not None else None
            state = "unknown (database unreachable)"
            try:
                close = self.repo.get(close_id) if close_id is not None else None
                state = "not sent" if close is None else close.status
                settled = state == OrderStatus.FILLED.value or not self._exposed(self.repo.get(cid))
            except Exception as exc:
                log.warning("could not read a refused stop's position", cid=cid, error=str(exc))
                settled = False
            if settled:
                del self._passed_stops[cid]
                log.info(
                    "position closed after its stop-loss was refused (the market had passed it)",
                    cid=cid,
                    close=close_id,
                    close_status=state,
                )
            elif now >= deadline:
                del self._passed_stops[cid]
                self._stop_refused_incident(
                    cid,
                    f"{reason}; its market close {close_id}: {state} after {self.passed_stop_grace_s:g} s",
                )

    def _exposed(self, stop: StoredOrder | None) -> bool:
        """Whether the bot of ``stop`` still holds a position the stop was to close (a lot or more)."""
        if stop is None:
            return True
        held = self.repo.holdings(stop.symbol, bot_id=stop.bot_id).get(stop.exchange, Decimal(0))
        exposed = held if stop.side == OrderSide.SELL.value else -held
        lot = self._lots.get(InstrumentId(stop.exchange, stop.symbol))
        return exposed > 0 and (lot is None or exposed >= lot)

    def _stop_refused_incident(self, cid: str, reason: str) -> None:
        log.error(
            "ALERT protective stop-loss refused by the venue: the position is unprotected until the "
            "trading engine's market close of it fills",
            cid=cid,
            reason=reason,
        )
        raise_incident(
            self.on_incident,
            cause_key=f"protective-stop-refused:{cid}",
            priority="P1",
            title="A position's stop-loss was refused by the venue: the position is unprotected",
            impact=f"order {cid}: {reason}",
            source="execution-engine",
        )

    def _close_refused(self, cid: ClientOrderId, reason: str) -> None:
        try:
            stored = self.repo.get(cid)
        except Exception as exc:  # the database is down: the order's kind is unknown, say so and go on
            log.error(
                "could not read a refused order to tell whether it closed a position", cid=cid, error=str(exc)
            )
            return
        if stored is None or not stored.reduce_only or stored.type != OrderType.MARKET.value:
            return
        log.error(
            "ALERT a position's close was refused by the venue: the position stays open, its exits canceled",
            cid=cid,
            reason=reason,
        )
        raise_incident(
            self.on_incident,
            cause_key=f"position-close-refused:{cid}",
            priority="P1",
            title="A position's close was refused by the venue: the position is open without its exits",
            impact=f"order {cid} ({stored.side} {stored.quantity} {stored.symbol} on {stored.exchange}): {reason}",
            source="execution-engine",
        )

    async def _event_rejected(
        self, iid: InstrumentId, cid: ClientOrderId, reason: str, *, alert: bool = True, passed: bool = False
    ) -> None:
        if alert:
            self._protective_refused(cid, reason, passed=passed)
        now = self.clock.timestamp_ms()
        await self.publish(
            OrderRejected(
                ts_event=now,
                ts_init=now,
                strategy_id=self._strategies.get(cid, StrategyId("")),
                instrument_id=self._requested.get(cid, iid),
                client_order_id=cid,
                reason=reason,
            )
        )

    def _venue(self, iid: InstrumentId) -> VenuePort:
        venue = self.venues.get(iid.venue)
        if venue is None:
            raise RejectedError(f"no venue {iid.venue!r} configured (have {sorted(self.venues)})")
        return venue
