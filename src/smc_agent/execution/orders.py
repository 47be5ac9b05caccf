"""The order book of one engine: creates orders from commands, applies venue events to their state
machines, and derives follow-up commands (protective stop-loss / take-profit children, OCO cancels)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import Decimal

from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import OrderStatus, OrderType
from smc_agent.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
)
from smc_agent.core.ids import ClientOrderId, InstrumentId
from smc_agent.core.order import Order
from smc_agent.execution.ids import child_order_id

FollowUp = SubmitOrder | CancelOrder
_OPEN_STATUSES = frozenset(s for s in OrderStatus if s.is_open)
_DONE = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED)
_FILLED = OrderStatus.FILLED
_RESTING = (OrderType.LIMIT, OrderType.STOP_LIMIT)  # entries that can rest partly filled


class OrderManager:
    """Owns every :class:`Order` of the engine, keyed by client order id (idempotent)."""

    def __init__(self, *, recent_window: int = 1_000) -> None:
        self.orders: dict[ClientOrderId, Order] = {}
        self._open: dict[ClientOrderId, Order] = {}
        self._oco: dict[ClientOrderId, ClientOrderId] = {}
        self._trimming: set[ClientOrderId] = set()  # partly filled entries whose rest is being canceled
        self.recent_times: deque[int] = deque(maxlen=recent_window)

    # ----------------------------------------------------------------- queries
    def get(self, client_order_id: ClientOrderId) -> Order | None:
        return self.orders.get(client_order_id)

    def open_orders(self, instrument_id: InstrumentId | None = None) -> list[Order]:
        if instrument_id is None:
            return list(self._open.values())
        return [o for o in self._open.values() if o.instrument_id == instrument_id]

    @property
    def open_count(self) -> int:
        return len(self._open)

    def knows(self, client_order_id: ClientOrderId) -> bool:
        return client_order_id in self.orders

    # ----------------------------------------------------------------- commands
    def link_oco(self, a: ClientOrderId, b: ClientOrderId) -> None:
        """One cancels the other: when ``a`` or ``b`` fills, the other is canceled."""
        self._oco[a] = b
        self._oco[b] = a

    def create(self, cmd: SubmitOrder) -> Order:
        """Create the order for ``cmd``; the same client order id returns the existing order."""
        existing = self.orders.get(cmd.client_order_id)
        if existing is not None:
            return existing
        order = Order(
            client_order_id=cmd.client_order_id,
            instrument_id=cmd.instrument_id,
            side=cmd.side,
            order_type=cmd.order_type,
            qty=cmd.qty,
            price=cmd.price,
            trigger_price=cmd.trigger_price,
            time_in_force=cmd.time_in_force,
            reduce_only=cmd.reduce_only,
            strategy_id=cmd.strategy_id,
            stop_loss=cmd.stop_loss,
            take_profit=cmd.take_profit,
            tag=cmd.tag,
            ts_init=cmd.ts_init,
        )
        self.orders[cmd.client_order_id] = order
        return order

    # ----------------------------------------------------------------- events
    def apply(self, event: OrderEvent) -> list[FollowUp]:
        """Apply a venue/risk event to its order; return follow-up commands. Unknown ids are ignored
        (returned as no follow-ups) so that foreign orders on a shared account cannot crash us."""
        order = self.orders.get(event.client_order_id)
        if order is None:
            return []
        ts = event.ts_event
        kind = type(event)
        if kind is OrderFilled:
            order.fill(event.qty, event.price, ts)  # type: ignore[attr-defined]
        elif kind is OrderSubmitted:
            order.submit(ts)
            self.recent_times.append(ts)
        elif kind is OrderAccepted:
            order.accept(event.venue_order_id, ts)  # type: ignore[attr-defined]
        else:
            self._apply_other(order, event, ts)
        if order.status in _OPEN_STATUSES:
            self._open[order.client_order_id] = order
            return []  # a working order has no follow-ups (brackets and OCO act on terminal orders)
        else:
            self._open.pop(order.client_order_id, None)
        return self._follow_ups(order, event)

    def start_trim(self, order: Order) -> bool:
        """Whether ``order`` is a resting entry with a stop-loss or take-profit, filled in part, whose rest
        is not being canceled yet; marks it so (once). Its exits go out when the cancel ends it, for what
        filled (``_bracket``): the part that filled is a position and must not wait unprotected for the
        rest, which may never fill. The engine asks once the fill opened a position on its side."""
        cid = order.client_order_id
        if not (order.is_open and order.filled_qty and order.has_bracket and order.order_type in _RESTING):
            return False
        if cid in self._trimming:
            return False
        self._trimming.add(cid)
        return True

    def submitted(self, client_order_id: ClientOrderId, ts: int) -> None:
        """What :meth:`apply` does with an ``OrderSubmitted`` of this order at ``ts`` (it has no
        follow-ups), for an engine that builds the event only when someone subscribes to it."""
        order = self.orders.get(client_order_id)
        if order is None:
            return
        order.submit(ts)
        self.recent_times.append(ts)
        self._open[client_order_id] = order  # SUBMITTED is an open status

    @staticmethod
    def _apply_other(order: Order, event: OrderEvent, ts: int) -> None:
        if isinstance(event, OrderFilled):
            order.fill(event.qty, event.price, ts)
        elif isinstance(event, OrderSubmitted):
            order.submit(ts)
        elif isinstance(event, OrderAccepted):
            order.accept(event.venue_order_id, ts)
        elif isinstance(event, OrderTriggered):
            order.trigger(ts)
        elif isinstance(event, OrderCanceled):
            order.cancel(ts)
        elif isinstance(event, OrderExpired):
            order.expire(ts)
        elif isinstance(event, OrderRejected):
            order.reject(event.reason, ts)
        elif isinstance(event, OrderDenied):
            order.deny(event.reason, ts)

    def _follow_ups(self, order: Order, event: OrderEvent) -> list[FollowUp]:
        out: list[FollowUp] = []
        done = order.status in _DONE
        if done and order.filled_qty > 0 and (order.stop_loss is not None or order.take_profit is not None):
            out.extend(self._bracket(order, event.ts_event))
        self._trimming.discard(order.client_order_id)
        if order.status is _FILLED:
            sibling = self._oco.pop(order.client_order_id, None)
            if sibling is not None:
                self._oco.pop(sibling, None)
                other = self.orders.get(sibling)
                if other is not None and other.status.is_open:
                    out.append(
                        CancelOrder(
                            ts_event=event.ts_event,
                            ts_init=event.ts_event,
                            strategy_id=other.strategy_id,
                            instrument_id=other.instrument_id,
                            client_order_id=other.client_order_id,
                        )
                    )
        return out

    def _bracket(self, parent: Order, ts: int) -> Iterable[SubmitOrder]:
        children: list[SubmitOrder] = []
        if parent.stop_loss is not None:
            children.append(
                _child(parent, "sl", OrderType.STOP_MARKET, price=None, trigger=parent.stop_loss, ts=ts)
            )
        if parent.take_profit is not None:
            children.append(
                _child(parent, "tp", OrderType.LIMIT, price=parent.take_profit, trigger=None, ts=ts)
            )
        if len(children) == 2:
            self.link_oco(children[0].client_order_id, children[1].client_order_id)
        parent.stop_loss = None  # children are created once
        parent.take_profit = None
        return children


def _child(
    parent: Order,
    role: str,
    order_type: OrderType,
    *,
    price: Decimal | None,
    trigger: Decimal | None,
    ts: int,
) -> SubmitOrder:
    return SubmitOrder(
        ts_event=ts,
        ts_init=ts,
        strategy_id=parent.strategy_id,
        instrument_id=parent.instrument_id,
        client_order_id=child_order_id(parent.client_order_id, role),
        side=parent.side.opposite,
        order_type=order_type,
        qty=parent.filled_qty,
        price=price,
        trigger_price=trigger,
        reduce_only=True,
        tag=f"{parent.tag}:{role}" if parent.tag else role,
        reference_price=parent.avg_fill_price,
    )
