"""Reconciliation: compare local orders with what the venue reports and derive correcting events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from smc_agent.core.enums import LiquiditySide, OrderStatus
from smc_agent.core.events import OrderCanceled, OrderEvent, OrderExpired, OrderFilled, OrderRejected
from smc_agent.core.ids import TradeId
from smc_agent.core.money import ZERO
from smc_agent.core.order import Order
from smc_agent.core.ports import OrderReport


@dataclass(slots=True)
class Reconciliation:
    events: list[OrderEvent] = field(default_factory=list)
    missing_at_venue: list[Order] = field(default_factory=list)
    unknown_at_venue: list[OrderReport] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.events or self.missing_at_venue or self.unknown_at_venue)


def reconcile(
    local: Sequence[Order], reports: Sequence[OrderReport], *, now_ms: int, quote_currency: str = ""
) -> Reconciliation:
    """``local`` are our open orders; ``reports`` the venue's view of those orders (and any others)."""
    result = Reconciliation()
    by_id = {r.client_order_id: r for r in reports}
    for order in local:
        report = by_id.pop(order.client_order_id, None)
        if report is None:
            result.missing_at_venue.append(order)
            continue
        ts, sid, iid, cid = report.ts_event, order.strategy_id, order.instrument_id, order.client_order_id
        missed = report.filled_qty - order.filled_qty
        if missed > ZERO:
            price = report.avg_fill_price or order.price or ZERO
            if (
                report.avg_fill_price is not None
                and order.filled_qty > 0
                and order.avg_fill_price is not None
            ):
                # price of the missed part, from the venue's average over everything filled
                price = (
                    report.avg_fill_price * report.filled_qty - order.avg_fill_price * order.filled_qty
                ) / missed
            result.events.append(
                OrderFilled(
                    ts_event=ts,
                    ts_init=now_ms,
                    strategy_id=sid,
                    instrument_id=iid,
                    client_order_id=cid,
                    venue_order_id=report.venue_order_id,
                    trade_id=TradeId(f"reconciled-{cid}-{report.filled_qty}"),
                    side=order.side,
                    qty=missed,
                    price=price,
                    fee=ZERO,
                    fee_currency=quote_currency,
                    liquidity=LiquiditySide.TAKER,
                    is_last=report.status is OrderStatus.FILLED,
                )
            )
        if report.status is OrderStatus.CANCELED:
            result.events.append(
                OrderCanceled(
                    ts_event=ts,
                    ts_init=now_ms,
                    strategy_id=sid,
                    instrument_id=iid,
                    client_order_id=cid,
                    reason="reconciled: canceled at venue",
                )
            )
        elif report.status is OrderStatus.EXPIRED:
            result.events.append(
                OrderExpired(
                    ts_event=ts, ts_init=now_ms, strategy_id=sid, instrument_id=iid, client_order_id=cid
                )
            )
        elif report.status is OrderStatus.REJECTED:
            result.events.append(
                OrderRejected(
                    ts_event=ts,
                    ts_init=now_ms,
                    strategy_id=sid,
                    instrument_id=iid,
                    client_order_id=cid,
                    reason="reconciled: rejected at venue",
                )
            )
    result.unknown_at_venue.extend(r for r in by_id.values() if r.status.is_open)
    return result
