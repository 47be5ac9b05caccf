"""How the simulated venue prices fills: fees, slippage, volume participation, intrabar ordering."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from smc_agent.core.enums import OrderSide
from smc_agent.core.errors import ConfigError

_BUY = OrderSide.BUY
_ZERO = Decimal(0)
_MAX_FEE = Decimal("0.1")  # 10% of notional: far above any venue's fee, catches "0.1 meant 0.1%"
_MAX_REBATE = Decimal("-0.01")  # a maker fee may be negative (a rebate), never below -1%
_MAX_SLIPPAGE_BPS = 1_000.0  # 10% of the price per fill; 10,000 bps would sell at a price of 0 or below

INTRABAR_RULES = ("stop_first", "nearest_first")
TAKE_PROFIT_FILLS = ("market", "limit")


@dataclass(frozen=True, slots=True)
class FillModel:
    """``maker_fee``/``taker_fee`` override the instrument's fees when given (fractions of notional).
    ``slippage_bps`` worsens market, stop and market take-profit fills (0 to 1,000 bps: 10% of the price).
    ``max_participation`` caps a fill at that fraction of the bar's volume (partial fills); ``None``
    fills in full. ``intrabar`` decides which of several levels inside one bar is hit first:
    ``stop_first`` (conservative: stops before limits) or ``nearest_first`` (the level closest to the
    bar's open first). ``take_profit`` says how a position's take-profit (the engine's ``-tp`` child)
    executes: ``market`` (default), as Binance and Bybit spot execute it live, a market order triggered
    at its price (taker fee, slipped; what a volume cap leaves fills at the next open); or ``limit``, a
    limit resting at its price (maker), as on a venue that lets it rest beside the stop."""

    maker_fee: Decimal | None = None
    taker_fee: Decimal | None = None
    slippage_bps: float = 0.0
    max_participation: float | None = None
    intrabar: str = "stop_first"
    take_profit: str = "market"

    def __post_init__(self) -> None:
        for name, fee, low in (
            ("taker_fee", self.taker_fee, _ZERO),
            ("maker_fee", self.maker_fee, _MAX_REBATE),
        ):
            if fee is not None and not (fee.is_finite() and low <= fee <= _MAX_FEE):
                raise ConfigError(
                    f"{name} must be a fraction of notional between {low} and {_MAX_FEE} (0.001 is 0.1%), got {fee}"
                )
        if self.intrabar not in INTRABAR_RULES:
            raise ConfigError(f"intrabar rule must be one of {INTRABAR_RULES}, got {self.intrabar!r}")
        if self.take_profit not in TAKE_PROFIT_FILLS:
            raise ConfigError(
                f"take-profit fill must be one of {TAKE_PROFIT_FILLS}, got {self.take_profit!r}"
            )
        if not (math.isfinite(self.slippage_bps) and 0 <= self.slippage_bps <= _MAX_SLIPPAGE_BPS):
            raise ConfigError(
                f"slippage_bps must be a number from 0 to {_MAX_SLIPPAGE_BPS:,.0f} (10% of the price), "
                f"got {self.slippage_bps}"
            )
        if self.max_participation is not None and not (0 < self.max_participation <= 1):
            raise ConfigError(f"max_participation must be in (0, 1], got {self.max_participation}")

    def slipped(self, price: float, side: OrderSide) -> float:
        if not self.slippage_bps:
            return price
        factor = self.slippage_bps / 10_000.0
        return price * (1.0 + factor) if side is _BUY else price * (1.0 - factor)
