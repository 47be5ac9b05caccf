"""The snapshot of the world the pre-trade checks look at (built by the engine per order)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from smc_agent.core.enums import OrderSide, OrderType, TradingState
from smc_agent.core.ids import ClientOrderId
from smc_agent.core.message import message


@dataclass(frozen=True, slots=True)
class OpenOrderView:
    side: OrderSide
    order_type: OrderType
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    filled_qty: Decimal = Decimal(0)
    protective: bool = False  # a position's stop-loss or take-profit (alternatives, covering the position)


class RiskView(Protocol):
    """What the checks read. :class:`RiskContext` is the eager, immutable implementation; the engine
    passes a lazy one that computes each figure only when a check asks for it."""

    @property
    def now_ms(self) -> int: ...
    @property
    def state(self) -> TradingState: ...
    @property
    def position_qty(self) -> Decimal: ...
    @property
    def others_position_qty(self) -> Decimal:
        """The part of ``position_qty`` other bots than the order's hold (several may share the account)."""
        ...

    @property
    def positions_notional(self) -> Mapping[str, Decimal]: ...
    @property
    def open_orders(self) -> Sequence[OpenOrderView]: ...
    @property
    def open_orders_total(self) -> int: ...
    @property
    def recent_order_times(self) -> Sequence[int]: ...
    @property
    def recent_client_ids(self) -> AbstractSet[ClientOrderId]: ...
    @property
    def equity(self) -> Decimal: ...
    @property
    def reference_ts(self) -> int | None: ...
    @property
    def replaying(self) -> str | None: ...


@message
class RiskContext:
    """``position_qty`` is signed, summed over all venues for the order's symbol; ``positions_notional``
    maps every symbol to its absolute notional (for the total-exposure check)."""

    now_ms: int
    state: TradingState
    position_qty: Decimal
    positions_notional: Mapping[str, Decimal]
    open_orders: Sequence[OpenOrderView]
    open_orders_total: int
    recent_order_times: Sequence[int]
    recent_client_ids: frozenset[ClientOrderId]
    equity: Decimal
    reference_ts: int | None = None
    replaying: str | None = None  # why the candles being fed are history (a live back-fill), else None
    extra: Mapping[str, str] = field(default_factory=dict)
    others_position_qty: Decimal = Decimal(0)  # other bots' part of ``position_qty``
