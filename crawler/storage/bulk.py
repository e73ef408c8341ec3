"""Bulk writes: many rows of one table at once.

:func:`insert_rows` is how a save writes a report's normalized rows (46 on average over the real corpus, up to 470
for an annual report): on PostgreSQL one ``COPY``, elsewhere one ``executemany``. The multi-row ``INSERT`` it replaced
had the server parse and plan every value as SQL: it was the costliest statement of a re-parse batch, and a batch's
340 holdings took 21-27 ms that way against 7-10 ms through ``COPY``, the rows' formatting included.

:func:`insert_report_rows` loads ``reports`` rows in any state, for imports and for the scale benchmark's synthetic
history. :meth:`Store.add_discovered` inserts ``pending`` rows and :meth:`Store.save_report` stores one report per
transaction; loading 100,000 rows that way takes minutes. This inserts whole ``reports`` rows (every column
given by the caller) many per statement, idempotently: rows whose ``upload_info_id`` exists are skipped.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from crawler.storage.engine import run_unit
from crawler.storage.tables import reports
from crawler.storage.upsert import insert

if TYPE_CHECKING:
    from crawler.storage.store import Store

BATCH = 2000


def insert_report_rows(store: Store, rows: Iterable[Mapping[str, Any]], batch: int = BATCH) -> int:
    """Insert ``reports`` rows ``batch`` at a time (one transaction each); returns how many rows were sent."""
    inserted = 0
    chunk: list[Mapping[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == batch:
            store.write(partial(_insert, rows=chunk))
            inserted, chunk = inserted + len(chunk), []
    if chunk:
        store.write(partial(_insert, rows=chunk))
        inserted += len(chunk)
    run_unit(lambda: _analyze(store.engine))
    return inserted


def _analyze(engine: Engine) -> None:
    """Leave the table as autovacuum would: fresh planner statistics (without them PostgreSQL sorted a whole
    state for a top-N query: 120 ms instead of 10 ms for status at 100k rows, bench/scale.py) and, on
    PostgreSQL, a visibility map so counting by state is an index-only scan. VACUUM cannot run in a transaction.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE reports"))
        return
    with engine.begin() as connection:
        connection.execute(text("ANALYZE reports"))


def _insert(connection: Connection, rows: list[Mapping[str, Any]]) -> None:
    statement = insert(connection, reports).on_conflict_do_nothing(index_elements=["upload_info_id"])
    connection.execute(statement, rows)


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same columns) into ``table`` on ``connection``, inside its transaction.

    On PostgreSQL the rows go through ``COPY ... FROM STDIN`` in text format, each value first bound as a
    statement would bind it (the column type's bind processing: exact decimals, UTC timestamps, JSON text); on
    SQLite, one ``executemany``. Either way a value the column refuses fails the whole insert.
    """
    if not rows:
        return
    columns = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError(f"rows for {table.name} do not all have the columns {columns}")
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), list(rows))
        return
    binders = [_binder(table, name, connection.dialect) for name in columns]
    data = io.StringIO()
    for row in rows:
        data.write("\t".join([_copy_text(bind(row[name])) for name, bind in zip(columns, binders, strict=True)]))
        data.write("\n")
    data.seek(0)
    names = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in columns)
    _copy(connection, f"COPY {connection.dialect.identifier_preparer.format_table(table)} ({names}) FROM STDIN", data)


def _copy(connection: Connection, statement: str, data: io.StringIO) -> None:
    """Run ``statement`` (a ``COPY ... FROM STDIN``) with ``data`` on the connection's driver, which SQLAlchemy
    has no call for. A driver error is raised as SQLAlchemy raises it for any statement (a lost connection
    invalidated and flagged), so :func:`crawler.storage.engine.run_unit` retries or reports it as it does the rest.
    """
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.cursor()
    try:
        cursor.copy_expert(statement, data)
    except dbapi.Error as error:
        lost = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(statement, None, error, dbapi.Error, hide_parameters=True,
                                  connection_invalidated=lost, dialect=connection.dialect) from error
    finally:
        if not cursor.closed:
            cursor.close()


def _binder(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any]:
    """What a statement does to a value of ``table.name`` before handing it to the driver."""
    process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return process or _as_is


def _as_is(value: Any) -> Any:
    return value


#: COPY's text format: backslash, tab, newline and carriage return are escaped; ``\N`` is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One bound value as COPY's text format spells it."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"no COPY text for a {type(value).__name__} value")
