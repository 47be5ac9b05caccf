"""Fills (executions) of orders."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from smc_agent.core.enums import LiquiditySide, OrderSide
from smc_agent.core.ids import ClientOrderId, InstrumentId, TradeId, VenueOrderId


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``fee`` is in ``fee_currency`` (the quote currency in simulated venues).

    ``market_price`` is the reference market price when the order was sent (for forensics: the
    playbook flags trades priced more than 10% away from it).
    """

    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None
    trade_id: TradeId
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: LiquiditySide
    ts_event: int
    market_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"fill {self.trade_id}: quantity must be positive, got {self.qty}")
        if self.price <= 0:
            raise ValueError(f"fill {self.trade_id}: price must be positive, got {self.price}")
        if self.fee < 0:
            raise ValueError(f"fill {self.trade_id}: fee must not be negative, got {self.fee}")

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side is OrderSide.BUY else -self.qty
