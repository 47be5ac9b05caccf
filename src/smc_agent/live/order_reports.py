"""The order gateway's venue reports: stored with the fees of their fills (from the order's trades at the
venue) and the lot step of their instrument, then published as order events."""

# mypy: disable-error-code="misc"
# (each method is typed with the OrderGateway it is part of: mypy wants a self type that is a
# supertype of the mixin, which the composed class is not)
from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderStatus
from smc_agent.core.errors import SmcAgentError
from smc_agent.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
)
from smc_agent.core.fill import Fill
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId
from smc_agent.core.ports import OrderReport
from smc_agent.logs import get_logger
from smc_agent.store.trading_repo import ReportOutcome

if TYPE_CHECKING:
    from smc_agent.live.gateway import OrderGateway

log = get_logger("smc_agent.live.gateway")

LOTS_RETRY_S = 60.0


class OrderReports:
    """Part of :class:`~smc_agent.live.gateway.OrderGateway` (its state lives there)."""

    async def _apply(self: OrderGateway, report: OrderReport, *, market_price: Decimal | None = None) -> None:
        lot = None
        if report.filled_qty > 0:
            if report.fee is None:
                report = await self._with_fees(report)
            lot = await self._lot(report.instrument_id)
        outcome = self.repo.apply_report(report, market_price=market_price, lot=lot)
        for event in self._events(report, outcome):
            await self.publish(event)

    async def _lot(self: OrderGateway, iid: InstrumentId) -> Decimal | None:
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

    async def _with_fees(self: OrderGateway, report: OrderReport) -> OrderReport:
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

    def _events(self: OrderGateway, r: OrderReport, o: ReportOutcome) -> list[Event]:
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

    async def _deny(self: OrderGateway, cmd: SubmitOrder, reason: str) -> None:
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

    async def _event_rejected(
        self: OrderGateway,
        iid: InstrumentId,
        cid: ClientOrderId,
        reason: str,
        *,
        alert: bool = True,
        passed: bool = False,
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
