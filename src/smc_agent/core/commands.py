"""Immutable commands (imperative names). Every message carries ``ts_event`` and ``ts_init`` (ms UTC):
``ts_event`` when the thing happened at its source, ``ts_init`` when this process created the object."""

from __future__ import annotations

from decimal import Decimal

from smc_agent.core.enums import OrderSide, OrderType, TimeInForce, TradingState
from smc_agent.core.ids import NO_STRATEGY, ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from smc_agent.core.message import message


@message
class Command:
    ts_event: int
    ts_init: int


@message
class SubmitOrder(Command):
    """Submit a new order. ``reference_price`` is the fresh market price the risk gate's collar uses;
    ``stop_loss``/``take_profit`` ask the engine to attach protective exit orders once filled.
    ``cancel_first``: orders the venue side cancels immediately before it sends this one, and only if it
    sends it (a close: a spot venue holds the coins of a working stop, and a close refused on the way
    must leave the stop working)."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    side: OrderSide
    order_type: OrderType
    qty: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    tag: str = ""
    reference_price: Decimal | None = None
    cancel_first: tuple[ClientOrderId, ...] = ()


@message
class SubmitOco(Command):
    """A position's stop-loss and take-profit, sent together: one cancels the other. Where the venue has
    order lists (Binance spot OCO) they go out as one and share the coins they would sell; elsewhere
    one after the other, the stop first."""

    stop: SubmitOrder
    target: SubmitOrder


@message
class CancelOrder(Command):
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None = None


@message
class CancelAllOrders(Command):
    """Cancel every open order of ``strategy_id`` (all strategies when empty) on ``instrument_id``
    (all instruments when ``None``)."""

    strategy_id: StrategyId = NO_STRATEGY
    instrument_id: InstrumentId | None = None


@message
class SetTradingState(Command):
    """Switch the trading state (operator, control facade or a breaker)."""

    state: TradingState
    reason: str
