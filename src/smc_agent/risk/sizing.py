"""Position sizing: fixed fraction of equity at risk to the stop, or fixed notional."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from smc_agent.core.errors import ConfigError
from smc_agent.core.instrument import Instrument
from smc_agent.core.money import ZERO


@dataclass(frozen=True, slots=True)
class Sizing:
    """``mode`` is ``"risk"`` (``risk_fraction`` of equity lost if the stop is hit; falls back to
    ``notional`` when no stop is given) or ``"notional"`` (``notional`` quote per order, or
    ``equity_fraction`` of equity when ``notional`` is ``None``). Either way the notional is capped at
    ``max_leverage`` x equity."""

    mode: str = "risk"
    risk_fraction: Decimal = Decimal("0.01")
    notional: Decimal | None = None
    equity_fraction: Decimal = Decimal("0.1")
    max_leverage: Decimal = Decimal(1)  # the sized notional never exceeds equity x this

    def __post_init__(self) -> None:
        if self.mode not in ("risk", "notional"):
            raise ConfigError(f"sizing mode must be 'risk' or 'notional', got {self.mode!r}")
        for name in ("risk_fraction", "equity_fraction"):
            value = _number(getattr(self, name))
            if value is None or not ZERO < value <= 1:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)}")
            object.__setattr__(self, name, value)
        for name in ("notional", "max_leverage"):
            raw = getattr(self, name)
            if raw is None and name == "notional":
                continue
            value = _number(raw)
            if value is None or not value > 0:
                raise ConfigError(f"sizing {name} must be a positive finite number, got {raw}")
            object.__setattr__(self, name, value)


def _number(value: object) -> Decimal | None:
    """``value`` as a finite Decimal (an int, float or Decimal), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = Decimal(str(value))
    return number if number.is_finite() else None


def size_by_risk(
    equity: Decimal, entry: Decimal, stop: Decimal, fraction: Decimal, inst: Instrument
) -> Decimal:
    """Quantity whose loss from ``entry`` to ``stop`` is ``fraction`` of ``equity`` (lot-rounded down)."""
    distance = abs(entry - stop)
    if distance == 0 or equity <= 0:
        return ZERO
    return inst.round_qty(equity * fraction / distance)


def size_by_notional(notional: Decimal, price: Decimal, inst: Instrument) -> Decimal:
    if price <= 0 or notional <= 0:
        return ZERO
    return inst.round_qty(notional / price)


def size_order(
    sizing: Sizing, *, equity: Decimal, entry: Decimal, stop: Decimal | None, inst: Instrument
) -> Decimal:
    if sizing.mode == "risk" and stop is not None:
        qty = size_by_risk(equity, entry, stop, sizing.risk_fraction, inst)
    else:
        notional = sizing.notional if sizing.notional is not None else equity * sizing.equity_fraction
        qty = size_by_notional(notional, entry, inst)
    return min(qty, size_by_notional(equity * sizing.max_leverage, entry, inst))
