"""Typed strategy parameters with defaults and ranges.

::

    class MyStrategy(Strategy):
        fast = Param(int, 10, low=2, high=200, help="fast SMA length")
        risk = Param(float, 0.01, low=0.0001, high=0.1)

Values are validated (type, range, choices; a float must be finite) when the strategy is constructed;
strings (from the CLI's ``--param k=v``) are converted to the declared type. Values decoded from JSON
(an API request) are checked strictly first with ``check_json_params``: no conversion, so ``true`` is not
an int, ``[1]`` is not a bool and ``"12"`` is not a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar, overload

from smc_agent.core.errors import ConfigError

T = TypeVar("T")
_BOOL_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class Param(Generic[T]):
    """A declared parameter. On the class it is the spec; on an instance it reads as the value."""

    __slots__ = ("choices", "default", "help", "high", "low", "type")

    def __init__(
        self,
        type: Callable[[Any], T],
        default: T,
        *,
        low: float | None = None,
        high: float | None = None,
        choices: Sequence[T] | None = None,
        help: str = "",
    ) -> None:
        self.type = type
        self.default = default
        self.low = low
        self.high = high
        self.choices = choices
        self.help = help

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> Param[T]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> T: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> Param[T] | T:
        return self  # only reached on the class: instances hold the resolved value in __dict__

    @property
    def type_name(self) -> str:
        return getattr(self.type, "__name__", str(self.type))

    def coerce(self, name: str, value: Any) -> T:
        try:
            if self.type is bool and isinstance(value, str):
                result: Any = _BOOL_TEXT[value.strip().lower()]
            elif self.type is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            else:
                result = self.type(value)
        except (
            KeyError,
            ValueError,
            TypeError,
            OverflowError,
            InvalidOperation,
        ) as exc:  # float(10**400) overflows
            raise ConfigError(f"parameter {name!r}: {value!r} is not a valid {self.type_name}") from exc
        if (isinstance(result, float) and not math.isfinite(result)) or (
            isinstance(result, Decimal) and not result.is_finite()
        ):  # NaN passes every range check (and a Decimal NaN raises in the comparison)
            raise ConfigError(f"parameter {name!r}: {value!r} is not a finite number")
        if self.low is not None and result < self.low:
            raise ConfigError(f"parameter {name!r}: {result} below minimum {self.low}")
        if self.high is not None and result > self.high:
            raise ConfigError(f"parameter {name!r}: {result} above maximum {self.high}")
        if self.choices is not None and result not in self.choices:
            raise ConfigError(f"parameter {name!r}: {result!r} not one of {list(self.choices)}")
        return result  # type: ignore[no-any-return]

    def check_json(self, name: str, value: Any) -> T:
        """``coerce`` for a value decoded from JSON: it must already be of the declared type (a bool is
        not a number, an int is a float, a list or a string is not a bool), nothing is converted."""
        if self.type is bool:
            ok = isinstance(value, bool)
        elif self.type in (int, float):  # an int given as 12.0 is fine, 12.5 is refused by coerce
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif self.type is str:
            ok = isinstance(value, str)
        else:
            ok = True  # another declared type: its own constructor decides
        if not ok:
            raise ConfigError(
                f"parameter {name!r}: {_short(value)} is a {_json_type(value)}, expected {self.type_name}"
            )
        return self.coerce(name, value)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "default": self.default,
            "low": self.low,
            "high": self.high,
            "choices": list(self.choices) if self.choices is not None else None,
            "help": self.help,
        }


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def declared_params(cls: type) -> dict[str, Param[Any]]:
    """All ``Param`` attributes of ``cls`` and its bases (subclass wins)."""
    found: dict[str, Param[Any]] = {}
    for klass in reversed(cls.__mro__):
        for key, value in vars(klass).items():
            if isinstance(value, Param):
                found[key] = value
    return found


def resolve_params(cls: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """Validated values for every declared parameter; unknown names raise ``ConfigError``."""
    specs = declared_params(cls)
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown parameter(s) {unknown}; known: {sorted(specs)}")
    return {name: spec.coerce(name, given.get(name, spec.default)) for name, spec in specs.items()}


def check_json_params(cls: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """``resolve_params`` for parameters decoded from JSON (an API request): strict types, see
    ``Param.check_json``. Only the given names are checked; defaults are the declaration's own."""
    specs = declared_params(cls)
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown parameter(s) {unknown}; known: {sorted(specs)}")
    return {name: specs[name].check_json(name, value) for name, value in given.items()}
