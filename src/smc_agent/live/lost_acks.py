"""The order gateway's lost acknowledgements: an order whose answer never came is looked up by its
client order id, never resent; one the venue does not know yet is asked for again until the venue's
receive window has passed (a late request can still place it), only then rejected."""

# mypy: disable-error-code="misc"
# (each method is typed with the OrderGateway it is part of: mypy wants a self type that is a
# supertype of the mixin, which the composed class is not)
from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderStatus
from smc_agent.core.errors import OrderNotFound, SmcAgentError
from smc_agent.core.ids import ClientOrderId, InstrumentId
from smc_agent.core.ports import OrderReport, VenuePort
from smc_agent.logs import get_logger

if TYPE_CHECKING:
    from smc_agent.live.gateway import OrderGateway

log = get_logger("smc_agent.live.gateway")


class LostAcks:
    """Part of :class:`~smc_agent.live.gateway.OrderGateway` (its state lives there)."""

    async def _find(
        self: OrderGateway, venue: VenuePort, iid: InstrumentId, cid: ClientOrderId
    ) -> OrderReport | None:
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

    async def _unacknowledged(self: OrderGateway, venue: VenuePort, cmd: SubmitOrder) -> OrderReport | None:
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

    def _unconfirm(
        self: OrderGateway, cid: str, iid: InstrumentId, reference: Decimal | None, window_s: float
    ) -> None:
        self._unconfirmed[cid] = (iid, reference, time.monotonic() + window_s)
        log.warning(
            "order not found at the venue after a lost acknowledgement; asked again until the venue's "
            "receive window has passed",
            cid=cid,
            seconds=round(window_s, 1),
        )

    async def _never_arrived(self: OrderGateway, iid: InstrumentId, cid: ClientOrderId) -> None:
        reason = "no acknowledgement and the venue does not know the client order id; not resent"
        self.repo.mark(cid, OrderStatus.REJECTED, reason)
        await self._event_rejected(iid, cid, reason)

    async def _look_up_unconfirmed(self: OrderGateway) -> dict[str, OrderReport | None]:
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

    async def _settle_unconfirmed(self: OrderGateway, found: dict[str, OrderReport | None]) -> None:
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
