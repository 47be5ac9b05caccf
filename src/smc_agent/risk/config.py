"""Risk configuration: frozen, typed, validated at construction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from smc_agent.core.errors import ConfigError

MAX_COLLAR = Decimal("0.10")


def _positive(name: str, value: object, *, optional: bool = True) -> None:
    """A limit is a positive finite number (``None`` turns an optional one off): an infinite cap is a
    cap turned off by accident, and NaN would make every comparison with it raise."""
    if value is None and optional:
        return
    try:
        number = Decimal(str(value)) if isinstance(value, int | float | Decimal) else None
    except InvalidOperation:
        number = None
    if isinstance(value, bool) or number is None or not (number.is_finite() and number > 0):
        off = " or None (no limit)" if optional else ""
        raise ConfigError(f"{name} must be a positive finite number{off}, got {value!r}")


def _count(name: str, value: object, *, low: int, optional: bool = True) -> None:
    if (value is None and optional) or (
        isinstance(value, int) and not isinstance(value, bool) and value >= low
    ):
        return
    off = " or None (no limit)" if optional else ""
    raise ConfigError(f"{name} must be a whole number of at least {low}{off}, got {value!r}")


@dataclass(frozen=True, slots=True)
class SymbolLimits:
    """Per-symbol overrides (``None`` = use the global value)."""

    max_order_qty: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position_qty: Decimal | None = None
    max_position_notional: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("max_order_qty", "max_order_notional", "max_position_qty", "max_position_notional"):
            _positive(f"symbol limit {name}", getattr(self, name))


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Limits of the pre-trade gate and breakers. ``None`` disables a limit.

    Fractions (``price_collar``, ``daily_loss_limit``, ``max_drawdown``) are of price or equity:
    0.05 = 5%. The price collar can never be configured above 10%.
    """

    max_order_qty: Decimal = Decimal(10_000)
    max_order_notional: Decimal | None = Decimal(1_000_000)
    price_collar: Decimal = Decimal("0.05")
    max_reference_age_ms: int = 15 * 60_000
    max_position_qty: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_total_exposure: Decimal | None = None
    max_open_orders: int | None = 50
    max_orders_per_minute: int | None = 60
    duplicate_window_ms: int = 1_000
    daily_loss_limit: Decimal | None = Decimal("0.05")
    max_drawdown: Decimal | None = Decimal("0.25")
    symbol_limits: Mapping[str, SymbolLimits] = field(default_factory=dict)
    _global_limits: SymbolLimits = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _positive("price_collar", self.price_collar, optional=False)
        if not self.price_collar <= MAX_COLLAR:
            raise ConfigError(f"price_collar must be in (0, {MAX_COLLAR}], got {self.price_collar}")
        _positive("max_order_qty", self.max_order_qty, optional=False)
        for name in ("max_order_notional", "max_position_qty", "max_position_notional", "max_total_exposure"):
            _positive(name, getattr(self, name))
        for name in ("daily_loss_limit", "max_drawdown"):
            value = getattr(self, name)
            _positive(name, value)
            if value is not None and not value <= Decimal(1):
                raise ConfigError(f"{name} must be in (0, 1], got {value}")
        _count("max_reference_age_ms", self.max_reference_age_ms, low=1, optional=False)
        _count("max_open_orders", self.max_open_orders, low=1)
        _count("max_orders_per_minute", self.max_orders_per_minute, low=1)
        _count("duplicate_window_ms", self.duplicate_window_ms, low=0, optional=False)
        limits = SymbolLimits(
            self.max_order_qty, self.max_order_notional, self.max_position_qty, self.max_position_notional
        )
        object.__setattr__(self, "_global_limits", limits)  # limits_for() is on every order's path

    def limits_for(self, symbol: str) -> SymbolLimits:
        """Effective per-symbol limits (overrides merged over the globals)."""
        over = self.symbol_limits.get(symbol)
        if over is None:
            return self._global_limits
        return SymbolLimits(
            max_order_qty=over.max_order_qty if over.max_order_qty is not None else self.max_order_qty,
            max_order_notional=over.max_order_notional
            if over.max_order_notional is not None
            else self.max_order_notional,
            max_position_qty=over.max_position_qty
            if over.max_position_qty is not None
            else self.max_position_qty,
            max_position_notional=over.max_position_notional
            if over.max_position_notional is not None
            else self.max_position_notional,
        )

    @classmethod
    def permissive(cls) -> RiskConfig:
        """Limits wide open except the always-on quantity cap and 10% collar (research backtests)."""
        return cls(
            max_order_qty=Decimal(10_000),
            max_order_notional=None,
            price_collar=MAX_COLLAR,
            max_reference_age_ms=10 * 365 * 86_400_000,
            max_open_orders=None,
            max_orders_per_minute=None,
            duplicate_window_ms=0,
            daily_loss_limit=None,
            max_drawdown=None,
        )
