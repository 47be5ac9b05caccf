"""Immutable events (past-tense names), each stamped with ``ts_event`` and ``ts_init`` (ms UTC)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from decimal import Decimal

from smc_agent.core.enums import LiquiditySide, OrderSide, OrderType, TradingState
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from smc_agent.core.message import message


@message
class Event:
    ts_event: int
    ts_init: int


@message
class OrderEvent(Event):
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId


@message
class OrderDenied(OrderEvent):
    """The risk gate refused the order. ``check`` names the failing check, ``reason`` says why in
    words, ``figures`` holds the numbers compared (as strings, e.g. ``{"qty": "12000", "limit": "10000"}``)."""

    reason: str
    check: str = ""
    figures: Mapping[str, str] = field(default_factory=dict)


@message
class OrderSubmitted(OrderEvent):
    side: OrderSide
    order_type: OrderType
    qty: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    tag: str = ""


@message
class OrderAccepted(OrderEvent):
    venue_order_id: VenueOrderId | None = None


@message
class OrderRejected(OrderEvent):
    reason: str


@message
class OrderTriggered(OrderEvent):
    pass


@message
class OrderFilled(OrderEvent):
    venue_order_id: VenueOrderId | None
    trade_id: TradeId
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: LiquiditySide
    market_price: Decimal | None = None
    is_last: bool = True  # False for a partial fill
    # dust (signed qty, below the lot step) the fill left of its position, written off the books with
    # it, and the cost written off (live: the execution engine's database decides, see TradingRepo)
    written_off: Decimal | None = None
    written_off_cost: Decimal | None = None


@message
class OrderCanceled(OrderEvent):
    reason: str = ""


@message
class OrderExpired(OrderEvent):
    pass


@message
class OrderCancelRejected(OrderEvent):
    reason: str


@message
class PositionChanged(Event):
    """Snapshot of a position after a fill (``qty`` signed; ``realized_pnl`` gross of ``fees``)."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    qty: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    fees: Decimal


@message
class TradingStateChanged(Event):
    """``scope`` is ``"engine"`` or ``"bot:<strategy id>"``; ``reason`` says why (breaker name and figures)."""

    previous: TradingState
    state: TradingState
    reason: str
    scope: str = "engine"


@message
class StrategyFailed(Event):
    """User strategy code raised inside ``hook``; the bot was halted."""

    strategy_id: StrategyId
    hook: str
    error: str
    traceback: str = ""
