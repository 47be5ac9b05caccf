"""Commands, events and candles as stream entries (flat ``str -> str`` maps with one JSON body).

Decoding is driven by the dataclass field types, so every core command and event round-trips
exactly (Decimals stay Decimals, enums stay enums, instrument ids stay instrument ids).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from smc_agent.core import commands, events
from smc_agent.core.candle import Candle
from smc_agent.core.ids import InstrumentId

_KINDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for module in (commands, events)
    for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
}


def _plain(value: Any) -> Any:
    if isinstance(value, InstrumentId):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, typing.Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _KINDS:  # a command inside a command
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def encode(message: object) -> dict[str, str]:
    """A command or event as a stream entry."""
    if not dataclasses.is_dataclass(message) or type(message).__name__ not in _KINDS:
        raise TypeError(f"cannot encode {type(message).__name__}: not a core command or event")
    return {"kind": type(message).__name__, "body": json.dumps(_plain(message), separators=(",", ":"))}


@cache
def _hints(kind: str) -> dict[str, Any]:
    return typing.get_type_hints(_KINDS[kind])


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], value)
    if tp is InstrumentId:
        return InstrumentId.parse(value)
    if tp is Decimal:
        return Decimal(value)
    name = getattr(tp, "__name__", "")
    if _KINDS.get(name) is tp:  # a command inside a command
        return _build(name, value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if origin is not None and issubclass(origin, typing.Mapping):
        return dict(value)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, v) for v in value)
    supertype = getattr(tp, "__supertype__", None)  # NewType
    if supertype is not None:
        return _convert(supertype, value)
    return value


def decode(fields: typing.Mapping[str, str]) -> Any:
    """The command or event a stream entry carries; raises ValueError naming what is wrong."""
    kind = fields.get("kind", "")
    cls = _KINDS.get(kind)
    if cls is None:
        raise ValueError(f"stream entry of unknown kind {kind!r}")
    try:
        body = json.loads(fields["body"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"stream entry {kind}: bad body ({exc})") from exc
    return _build(kind, body)


def _build(kind: str, body: dict[str, Any]) -> Any:
    hints = _hints(kind)
    return _KINDS[kind](**{name: _convert(hints[name], value) for name, value in body.items()})


def encode_candle(candle: Candle, *, history: bool = False) -> dict[str, str]:
    """A candle for the candles stream; ``history`` marks one published behind a newer one (a back-fill
    or a catch-up after an outage): strategies see it, but it signals no entry."""
    fields = {"kind": "Candle", "body": json.dumps(list(candle), separators=(",", ":"))}
    if history:
        fields["history"] = "1"
    return fields


def is_history(fields: typing.Mapping[str, str]) -> bool:
    return fields.get("history") == "1"


def decode_candle(fields: typing.Mapping[str, str]) -> Candle:
    if fields.get("kind") != "Candle":
        raise ValueError(f"expected a Candle entry, got {fields.get('kind')!r}")
    v, s, tf, t, o, h, low, c, vol = json.loads(fields["body"])
    return Candle(str(v), str(s), str(tf), int(t), float(o), float(h), float(low), float(c), float(vol))
