"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no exact decimal and no timezone-aware timestamp: stored naively, money would become a binary float
and an aware datetime would come back naive. These types keep both engines equal: numbers are stored exactly as
printed and timestamps always come back as aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


def to_decimal(value: object) -> Decimal | None:
    """The exact decimal a parsed number stands for; None for anything that is not a finite number.

    ``Decimal(repr(x))`` keeps the digits the page printed (``8.84`` stays ``8.84``, not the binary float's
    ``8.839999...``).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL, the decimal's text on SQLite (whose NUMERIC affinity would round to a double)."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        number = to_decimal(value)
        if number is None:
            return None
        return str(number) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps in UTC, always timezone-aware in Python; naive UTC text on SQLite so comparisons still sort."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


#: JSON everywhere (PostgreSQL ``json``, not ``jsonb``: the document keeps its key order byte for byte).
Json = JSON(none_as_null=True)


def utcnow() -> dt.datetime:
    """Now, aware, in UTC."""
    return dt.datetime.now(dt.UTC)
