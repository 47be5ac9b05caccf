"""The order gateway's cancels: one order (a take-profit listed with its stop stays), the orders a close
replaces, and on a halt every working entry order on every venue, verified by listing them again."""

# mypy: disable-error-code="misc"
# (each method is typed with the OrderGateway it is part of: mypy wants a self type that is a
# supertype of the mixin, which the composed class is not)
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import OrderStatus
from smc_agent.core.errors import OrderNotFound, SmcAgentError
from smc_agent.core.events import (
    OrderCancelRejected,
)
from smc_agent.core.ids import ClientOrderId, InstrumentId, VenueOrderId
from smc_agent.core.ports import OrderReport, VenuePort
from smc_agent.execution.ids import OUR_PREFIX, child_role, sibling_order_id
from smc_agent.logs import get_logger
from smc_agent.store.trading_repo import StoredOrder

if TYPE_CHECKING:
    from smc_agent.live.gateway import OrderGateway

log = get_logger("smc_agent.live.gateway")


def _is_entry(report: OrderReport, stored: StoredOrder | None) -> bool:
    """An entry order: not reduce-only in our database, or, unknown there, one of ours by its id prefix."""
    if stored is None:
        return report.client_order_id.startswith(OUR_PREFIX)
    return not stored.reduce_only


class OrderCancels:
    """Part of :class:`~smc_agent.live.gateway.OrderGateway` (its state lives there)."""

    async def _cancel_before(self: OrderGateway, cmd: SubmitOrder) -> None:
        """Cancel the orders a close replaces (its stop and target) before the close is sent: a spot
        venue holds their coins. One that cannot be canceled does not stop the close: the position is
        better closed, and an exit left working once it is flat is canceled by the engine then."""
        for cid in cmd.cancel_first:
            stored = self.repo.get(cid)
            if stored is None or not stored.is_open:
                continue
            self.repo.request_cancel(cid)
            try:
                await self._cancel_stored(stored)
            except (SmcAgentError, TimeoutError, OSError) as exc:
                log.error("could not cancel an order before the close replacing it", cid=cid, error=str(exc))

    async def cancel(self: OrderGateway, cmd: CancelOrder) -> None:
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
        self.repo.request_cancel(stored.client_order_id)  # asked again at every poll while it is open
        async with self.send_lock:
            await self._cancel_stored(stored)

    async def retry_cancels(self: OrderGateway) -> None:
        """Send again each cancel asked for an order still open: one the venue did not answer, one asked
        before a restart, one asked while the order's acknowledgement was lost (the order a late
        request placed is canceled once it is found)."""
        for stored in self.repo.cancels_pending():
            if stored.client_order_id in self._unconfirmed:  # not found yet: the poll settles it first
                continue
            try:
                async with self.send_lock:
                    done = await self._cancel_stored(stored)
            except (SmcAgentError, TimeoutError, OSError) as exc:
                log.warning("cancel still not answered", cid=stored.client_order_id, error=str(exc))
                continue
            if done:
                log.info("cancel answered after a retry", cid=stored.client_order_id)

    def _stop_listed_with(self: OrderGateway, stored: StoredOrder) -> bool:
        """Whether ``stored`` is a take-profit whose stop-loss is open beside it on a venue with order
        lists (where the two went out as one OCO list)."""
        if child_role(stored.client_order_id) != "tp":
            return False
        if not getattr(self.venues.get(stored.exchange), "supports_oco", False):
            return False
        stop = self.repo.get(str(sibling_order_id(stored.client_order_id)))
        return stop is not None and stop.is_open and stop.exchange == stored.exchange

    async def _cancel_stored(self: OrderGateway, stored: StoredOrder) -> bool:
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

    async def cancel_entries(self: OrderGateway) -> int:
        """Cancel every working entry (non reduce-only) order on every venue and verify it."""
        started = time.perf_counter()
        cancelled = 0
        unverified: set[str] = set()
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
                    unverified.add(name)
                    if name not in self.cancel_unverified:  # said once; tried again at every poll
                        log.error(
                            "ALERT working entry orders could not be verified cancelled; tried again at "
                            "every poll while halted",
                            venue=name,
                        )
        self.cancel_unverified = unverified
        elapsed = time.perf_counter() - started
        self.stats.cancelled_on_halt += cancelled
        self.stats.last_cancel_all_s = elapsed
        if unverified:
            log.warning("working entry orders cancelled where the venues answered", cancelled=cancelled)
        else:
            log.warning(
                "working entry orders cancelled and verified", cancelled=cancelled, seconds=round(elapsed, 4)
            )
        return cancelled

    async def _cancel_reports(
        self: OrderGateway, venue: VenuePort, targets: list[OrderReport], stored: dict[str, StoredOrder]
    ) -> int:
        limit = asyncio.Semaphore(16)  # concurrent cancels per venue

        async def one(report: OrderReport) -> bool:
            async with limit:
                return await self._cancel_report(venue, report, stored)

        results = await asyncio.gather(*(one(r) for r in targets), return_exceptions=True)
        return sum(1 for r in results if r is True)

    async def _cancel_report(
        self: OrderGateway, venue: VenuePort, report: OrderReport, stored: dict[str, StoredOrder]
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
