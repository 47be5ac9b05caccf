"""Immutable events (past-tense names), each stamped with ``ts_event`` and ``ts_init`` (ms UTC)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from smc_agent.core.enums import LiquiditySide, OrderSide, OrderType, TradingState
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    ts_event: int
    ts_init: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent(Event):
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderDenied(OrderEvent):
    """The risk gate refused the order. ``check`` names the failing check, ``reason`` says why in
    words, ``figures`` holds the numbers compared (as strings, e.g. ``{"qty": "12000", "limit": "10000"}``)."""

    reason: str
    check: str = ""
    figures: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(OrderEvent):
    side: OrderSide
    order_type: OrderType
    qty: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    tag: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(OrderEvent):
    venue_order_id: VenueOrderId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(OrderEvent):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderTriggered(OrderEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCanceled(OrderEvent):
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(OrderEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelRejected(OrderEvent):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChanged(Event):
    """Snapshot of a position after a fill (``qty`` signed; ``realized_pnl`` gross of ``fees``)."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    qty: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingStateChanged(Event):
    """``scope`` is ``"engine"`` or ``"bot:<strategy id>"``; ``reason`` says why (breaker name and figures)."""

    previous: TradingState
    state: TradingState
    reason: str
    scope: str = "engine"


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyFailed(Event):
    """User strategy code raised inside ``hook``; the bot was halted."""

    strategy_id: StrategyId
    hook: str
    error: str
    traceback: str = ""
