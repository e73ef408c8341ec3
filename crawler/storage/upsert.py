"""``INSERT ... ON CONFLICT`` for whichever database a connection speaks: what makes every write idempotent.

PostgreSQL and SQLite (3.24+) share the syntax; SQLAlchemy exposes it through two dialect-specific ``insert``
constructs with the same ``on_conflict_do_nothing``/``on_conflict_do_update`` methods.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert(connection: Connection, table: Table) -> Any:
    """An insert into ``table`` that supports ``on_conflict_do_*`` on the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"no upsert for dialect {connection.dialect.name!r}")
