"""The order gateway's alerts for refused exits: a position's stop-loss or close the venue refused leaves
it unprotected (an error and a P1 incident); a stop refused because the market has already passed it
pages only if the position's market close has not filled within a grace period."""

# mypy: disable-error-code="misc"
# (each method is typed with the OrderGateway it is part of: mypy wants a self type that is a
# supertype of the mixin, which the composed class is not)
from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING

from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId
from smc_agent.execution.ids import child_order_id, child_role, parent_order_id
from smc_agent.live.incidents import raise_incident
from smc_agent.logs import get_logger
from smc_agent.store.trading_repo import StoredOrder

if TYPE_CHECKING:
    from smc_agent.live.gateway import OrderGateway

log = get_logger("smc_agent.live.gateway")


class RefusalAlerts:
    """Part of :class:`~smc_agent.live.gateway.OrderGateway` (its state lives there)."""

    def _protective_refused(
        self: OrderGateway, cid: ClientOrderId, reason: str, *, passed: bool = False
    ) -> None:
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

    def _check_passed_stops(self: OrderGateway) -> None:
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

    def _exposed(self: OrderGateway, stop: StoredOrder | None) -> bool:
        """Whether the bot of ``stop`` still holds a position the stop was to close (a lot or more)."""
        if stop is None:
            return True
        held = self.repo.holdings(stop.symbol, bot_id=stop.bot_id).get(stop.exchange, Decimal(0))
        exposed = held if stop.side == OrderSide.SELL.value else -held
        lot = self._lots.get(InstrumentId(stop.exchange, stop.symbol))
        return exposed > 0 and (lot is None or exposed >= lot)

    def _stop_refused_incident(self: OrderGateway, cid: str, reason: str) -> None:
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

    def _close_refused(self: OrderGateway, cid: ClientOrderId, reason: str) -> None:
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
