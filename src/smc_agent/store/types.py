"""Column types that behave the same on SQLite and PostgreSQL.

- :class:`UTCDateTime`: timezone-aware UTC in and out (SQLite keeps no zone; we restore it).
- :class:`Money`: exact ``Decimal``. PostgreSQL stores NUMERIC(38, 18); SQLite has no exact decimal,
  so the value is kept as canonical text there (never a float).
- ids are text, prefixed ULIDs such as ``usr_01J...`` (the playbook quotes user ids as strings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Numeric, String, cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine
from ulid import ULID


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    impl = Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("Money columns take Decimal, int or str, never float")
        dec = Decimal(value)
        if not dec.is_finite():
            raise ValueError(f"non-finite money value {value!r}")
        return format(dec, "f") if dialect.name == "sqlite" else dec

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        dec = Decimal(value)
        return dec.quantize(Decimal(1)) if dec == dec.to_integral_value() else dec.normalize()


def money_nonzero(column: Any) -> ColumnElement[bool]:
    """``column != 0`` for a :class:`Money` column that holds on SQLite too: there the value is text,
    and a closed position's quantity (``0.0123 - 0.0123`` is ``Decimal("0.0000")``, stored ``"0.0000"``)
    is not the text ``"0"``. Compared as a number (a float is exact enough to tell zero)."""
    return cast(column, Float) != 0


JSONType = JSON().with_variant(JSONB(), "postgresql")
