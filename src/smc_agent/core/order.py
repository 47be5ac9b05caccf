"""Orders with an explicit state machine: an illegal transition raises ``IllegalTransition``.

::

    INITIALIZED ─┬─> DENIED                                   (risk gate refused it)
                 └─> SUBMITTED ─┬─> REJECTED                  (venue refused it)
                                ├─> ACCEPTED ─> TRIGGERED     (stop orders)
                                ├─> PARTIALLY_FILLED ─> FILLED
                                ├─> PENDING_CANCEL ─> CANCELED
                                └─> EXPIRED
"""

from __future__ import annotations

from decimal import Decimal

from smc_agent.core.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from smc_agent.core.errors import IllegalTransition
from smc_agent.core.ids import NO_STRATEGY, ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from smc_agent.core.money import ZERO

S = OrderStatus
# members as module constants: ``OrderStatus.X`` is a class attribute lookup through the enum
# metaclass on every use (~0.1 us), a module global is not
_INITIALIZED, _SUBMITTED, _ACCEPTED = S.INITIALIZED, S.SUBMITTED, S.ACCEPTED
_FILLED, _PARTIALLY_FILLED, _CANCELED = S.FILLED, S.PARTIALLY_FILLED, S.CANCELED
_NEEDS_PRICE = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_NEEDS_TRIGGER = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
_WORKING_EXITS = frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.INITIALIZED: frozenset({S.DENIED, S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.ACCEPTED: _WORKING_EXITS | {S.TRIGGERED, S.REJECTED},
    S.TRIGGERED: _WORKING_EXITS | {S.REJECTED},
    S.PARTIALLY_FILLED: _WORKING_EXITS,
    # a cancel can lose the race against a fill, or be refused by the venue (back to ACCEPTED)
    S.PENDING_CANCEL: frozenset({S.CANCELED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED, S.ACCEPTED}),
    S.DENIED: frozenset(),
    S.REJECTED: frozenset(),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
}


class Order:
    """A mutable order aggregate; only its transition methods change its status."""

    __slots__ = (
        "avg_fill_price",
        "client_order_id",
        "filled_qty",
        "instrument_id",
        "order_type",
        "price",
        "qty",
        "reason",
        "reduce_only",
        "side",
        "status",
        "stop_loss",
        "strategy_id",
        "tag",
        "take_profit",
        "time_in_force",
        "trigger_price",
        "ts_init",
        "ts_last",
        "venue_order_id",
    )

    def __init__(
        self,
        *,
        client_order_id: ClientOrderId,
        instrument_id: InstrumentId,
        side: OrderSide,
        order_type: OrderType,
        qty: Decimal,
        ts_init: int,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        strategy_id: StrategyId = NO_STRATEGY,
        stop_loss: Decimal | None = None,
        take_profit: Decimal | None = None,
        tag: str = "",
    ) -> None:
        if qty <= 0:
            raise ValueError(f"order {client_order_id}: quantity must be positive, got {qty}")
        needs_price = order_type in _NEEDS_PRICE
        needs_trigger = order_type in _NEEDS_TRIGGER
        if needs_price and (price is None or price <= 0):
            raise ValueError(f"order {client_order_id}: {order_type} needs a positive price")
        if needs_trigger and (trigger_price is None or trigger_price <= 0):
            raise ValueError(f"order {client_order_id}: {order_type} needs a positive trigger_price")
        self.client_order_id = client_order_id
        self.instrument_id = instrument_id
        self.side = side
        self.order_type = order_type
        self.qty = qty
        self.price = price
        self.trigger_price = trigger_price
        self.time_in_force = time_in_force
        self.reduce_only = reduce_only
        self.strategy_id = strategy_id
        self.stop_loss = stop_loss
        self.take_profit = take_profit
        self.tag = tag
        self.status = _INITIALIZED
        self.venue_order_id: VenueOrderId | None = None
        self.filled_qty = ZERO
        self.avg_fill_price: Decimal | None = None
        self.reason = ""
        self.ts_init = ts_init
        self.ts_last = ts_init

    def __repr__(self) -> str:
        return (
            f"Order({self.client_order_id} {self.side} {self.qty} {self.instrument_id} {self.order_type}"
            f" price={self.price} trigger={self.trigger_price} {self.status} filled={self.filled_qty})"
        )

    @property
    def leaves_qty(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def has_bracket(self) -> bool:
        """It asks for a stop-loss or take-profit to be attached when it fills (not placed yet)."""
        return self.stop_loss is not None or self.take_profit is not None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def _move(self, new: OrderStatus, ts: int) -> None:
        if new not in TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"order {self.client_order_id}: illegal transition {self.status} -> {new}"
            )
        self.status = new
        self.ts_last = ts

    def can_transition(self, new: OrderStatus) -> bool:
        return new in TRANSITIONS[self.status]

    def deny(self, reason: str, ts: int) -> None:
        self._move(S.DENIED, ts)
        self.reason = reason

    def submit(self, ts: int) -> None:
        self._move(_SUBMITTED, ts)

    def accept(self, venue_order_id: VenueOrderId | None, ts: int) -> None:
        self._move(_ACCEPTED, ts)
        if venue_order_id is not None:
            self.venue_order_id = venue_order_id

    def reject(self, reason: str, ts: int) -> None:
        self._move(S.REJECTED, ts)
        self.reason = reason

    def trigger(self, ts: int) -> None:
        self._move(S.TRIGGERED, ts)

    def request_cancel(self, ts: int) -> None:
        self._move(S.PENDING_CANCEL, ts)

    def cancel(self, ts: int) -> None:
        self._move(_CANCELED, ts)

    def expire(self, ts: int) -> None:
        self._move(S.EXPIRED, ts)

    def fill(self, qty: Decimal, price: Decimal, ts: int) -> None:
        """Apply an execution of ``qty`` at ``price``; moves to PARTIALLY_FILLED or FILLED."""
        if qty <= 0:
            raise ValueError(f"order {self.client_order_id}: fill quantity must be positive, got {qty}")
        if qty > self.qty - self.filled_qty:  # leaves_qty, without the property call
            raise IllegalTransition(
                f"order {self.client_order_id}: overfill {qty} > leaves {self.leaves_qty} (qty {self.qty})"
            )
        new_filled = self.filled_qty + qty
        target = _FILLED if new_filled == self.qty else _PARTIALLY_FILLED
        self._move(target, ts)
        prev_notional = (self.avg_fill_price or ZERO) * self.filled_qty
        self.avg_fill_price = (prev_notional + qty * price) / new_filled
        self.filled_qty = new_filled
