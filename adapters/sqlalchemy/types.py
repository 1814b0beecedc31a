"""Column types that keep the domain's guarantees on every database.

* :class:`UtcDateTime` stores UTC and always returns timezone-aware UTC datetimes, also on
  SQLite (which has no time zone support); naive datetimes are refused on the way in.
* :class:`Money` is exact: ``NUMERIC`` on PostgreSQL, decimal text on SQLite (whose
  ``NUMERIC`` affinity would silently round through a binary float).
* :class:`JsonDoc` is ``JSONB`` on PostgreSQL and JSON text elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp (``timestamptz`` on PostgreSQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass a timezone-aware UTC time")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An exact decimal: PostgreSQL ``NUMERIC`` (unconstrained), decimal text on SQLite."""

    impl = Numeric(asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            if isinstance(value, float):
                raise TypeError(f"money must be Decimal, got float {value!r}")
            value = Decimal(value)
        if not value.is_finite():
            raise ValueError(f"money must be finite, got {value}")
        if dialect.name == "sqlite":
            return str(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


#: JSON documents (metadata, parameters, metrics): JSONB on PostgreSQL.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")
