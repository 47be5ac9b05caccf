"""Decimal money helpers: conversion from floats/strings and rounding to venue precision."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)


def to_decimal(value: Decimal | int | float | str) -> Decimal:
    """Convert to ``Decimal``. Floats go through ``repr`` so 0.1 becomes ``Decimal('0.1')``.

    Raises ``ValueError`` naming the bad value for NaN, infinities and unparsable input.
    """
    kind = type(value)
    if kind is float:  # the hot path: candle prices entering an order
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise ValueError(f"not a finite money value: {value!r}")
        return Decimal(repr(value))
    if kind is bool:
        raise ValueError(f"not a money value: {value!r}")
    if kind is int:
        return Decimal(value)
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a money value: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite money value: {value!r}")
    return result


def round_to_increment(value: Decimal, increment: Decimal, *, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round ``value`` to a multiple of ``increment`` (a tick or lot step), keeping its exponent. A
    value with more digits at that step than the decimal context holds (1e30 at 0.00001) is a
    ValueError naming it."""
    try:
        if _is_power_of_ten(increment):  # 1, 0.01, 1E+1 ...: quantizing to it is the same rounding
            return value.quantize(increment, rounding=rounding)
        if increment <= 0:
            raise ValueError(f"increment must be positive, got {increment}")
        units = (value / increment).quantize(ONE, rounding=rounding)
        return (units * increment).quantize(increment)
    except InvalidOperation:
        raise ValueError(f"{value} is too large to round to a step of {increment}") from None


_POW10: dict[int, tuple[Decimal, bool]] = {}  # id(increment) -> (increment, is a power of ten)


def _is_power_of_ten(increment: Decimal) -> bool:
    """Whether ``increment`` is written as a single digit 1 (``0.01``, not ``0.010``). Cached by object
    identity: instruments hand the same increment object to every rounding."""
    known = _POW10.get(id(increment))
    if known is not None and known[0] is increment:
        return known[1]
    if len(_POW10) > 4096:
        _POW10.clear()
    sign, digits, exponent = increment.as_tuple()
    result = sign == 0 and digits == (1,) and isinstance(exponent, int)
    _POW10[id(increment)] = (increment, result)
    return result


def round_price(value: Decimal, tick: Decimal) -> Decimal:
    """Nearest multiple of the price tick (banker's rounding on exact halves)."""
    return round_to_increment(value, tick, rounding=ROUND_HALF_EVEN)


def round_qty_down(value: Decimal, step: Decimal) -> Decimal:
    """Quantity rounded *down* to the lot step, so an order never exceeds what was sized."""
    return round_to_increment(value, step, rounding=ROUND_DOWN)


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    """True when ``value`` is an exact multiple of ``increment``."""
    return increment > 0 and (value % increment) == 0
