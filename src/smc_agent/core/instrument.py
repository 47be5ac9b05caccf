"""Tradable instruments with venue precision and limits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from smc_agent.core.ids import InstrumentId
from smc_agent.core.money import ZERO, is_multiple, round_price, round_qty_down


@dataclass(frozen=True, slots=True)
class Instrument:
    """An instrument keyed by ``(venue, symbol)``.

    ``price_increment``/``qty_increment`` are the venue's tick and lot step; ``min_qty``,
    ``max_qty`` and ``min_notional`` its order limits (``max_qty`` ``None`` = unlimited).
    ``maker_fee``/``taker_fee`` are fractions of notional (0.001 = 10 bp) used by simulated venues.
    """

    venue: str
    symbol: str
    base: str
    quote: str
    price_increment: Decimal
    qty_increment: Decimal
    min_qty: Decimal = ZERO
    max_qty: Decimal | None = None
    min_notional: Decimal = ZERO
    maker_fee: Decimal = ZERO
    taker_fee: Decimal = ZERO
    is_perpetual: bool = False

    def __post_init__(self) -> None:
        if self.price_increment <= 0 or self.qty_increment <= 0:
            raise ValueError(f"{self.symbol}@{self.venue}: price and qty increments must be positive")
        if self.min_qty < 0 or self.min_notional < 0:
            raise ValueError(f"{self.symbol}@{self.venue}: limits must not be negative")
        if self.max_qty is not None and self.max_qty < self.min_qty:
            raise ValueError(f"{self.symbol}@{self.venue}: max_qty {self.max_qty} < min_qty {self.min_qty}")

    @property
    def id(self) -> InstrumentId:
        return InstrumentId(self.venue, self.symbol)

    def round_price(self, price: Decimal) -> Decimal:
        return round_price(price, self.price_increment)

    def round_qty(self, qty: Decimal) -> Decimal:
        return round_qty_down(qty, self.qty_increment)

    def validate_order(self, qty: Decimal, price: Decimal | None) -> str | None:
        """Return why ``qty``/``price`` violate this instrument's precision or limits, else ``None``."""
        if qty <= 0:
            return f"quantity {qty} must be positive"
        if not is_multiple(qty, self.qty_increment):
            return f"quantity {qty} is not a multiple of the lot step {self.qty_increment}"
        if qty < self.min_qty:
            return f"quantity {qty} below minimum {self.min_qty}"
        if self.max_qty is not None and qty > self.max_qty:
            return f"quantity {qty} above maximum {self.max_qty}"
        if price is not None:
            if price <= 0:
                return f"price {price} must be positive"
            if not is_multiple(price, self.price_increment):
                return f"price {price} is not a multiple of the tick {self.price_increment}"
            if qty * price < self.min_notional:
                return f"notional {qty * price} below minimum {self.min_notional}"
        return None
