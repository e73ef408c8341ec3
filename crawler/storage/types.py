"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no exact decimal and no timezone-aware timestamp: stored naively, money would become a binary float
(or, stored as text, would sort as text) and an aware datetime would come back naive. These types keep both engines
equal: numbers are stored exactly and order as numbers, and timestamps always come back as aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType


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


#: SQLite has no exact decimal type: there every decimal column holds the value times ``10 ** SQLITE_SCALE`` as
#: an INTEGER, so ``max``, ``min``, ``ORDER BY`` and ``sum`` work on exact whole numbers. The analyst views divide
#: it back (see :mod:`crawler.storage.views`). Printed values have at most 4 decimals (NAV per unit).
SQLITE_SCALE = 4
_INT64 = 2**63 - 1


class _SqliteNumber(UserDefinedType[Any]):
    """Declared ``NUMERIC`` on SQLite: integers stay integers, and a ``CAST(... AS NUMERIC)`` of decimal text (the
    old storage, during the migration) yields a number, never a truncated integer."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "NUMERIC"


def to_sqlite_number(number: Decimal) -> int | float:
    """The stored form of a decimal on SQLite: the scaled integer, or (a value with more than 4 decimals or beyond
    the 64-bit range, which no printed page has) the nearest double of the scaled value, which still orders and
    compares right against the integers."""
    scaled = number.scaleb(SQLITE_SCALE)
    if scaled == scaled.to_integral_value() and abs(scaled) <= _INT64:
        return int(scaled)
    return float(scaled)


def from_sqlite_number(value: Any) -> Decimal:
    """The decimal a stored SQLite number stands for (the inverse of :func:`to_sqlite_number`)."""
    if isinstance(value, int):
        return tidy(Decimal(value).scaleb(-SQLITE_SCALE))
    return tidy(Decimal(repr(float(value))).scaleb(-SQLITE_SCALE))


def tidy(number: Decimal) -> Decimal:
    """``number`` without trailing fractional zeros (``100.0000`` -> ``100``), so both engines print alike."""
    try:
        if number == number.to_integral_value():
            return number.quantize(Decimal(1))
    except InvalidOperation:  # more digits than the context holds: keep it as it is
        return number
    return number.normalize()


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL; on SQLite the value times 10**SQLITE_SCALE as an INTEGER (exact, orders right)."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteNumber())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        number = to_decimal(value)
        if number is None:
            return None
        return to_sqlite_number(number) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_sqlite_number(value)
        return Decimal(str(value))


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
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


#: JSON everywhere (PostgreSQL ``json``, not ``jsonb``: the document keeps its key order byte for byte).
Json = JSON(none_as_null=True)


def utcnow() -> dt.datetime:
    """Now, aware, in UTC."""
    return dt.datetime.now(dt.UTC)
