"""Bulk loading of report rows in any state, for imports and for the scale benchmark's synthetic history.

:meth:`Store.add_discovered` inserts ``pending`` rows and :meth:`Store.save_report` stores one report per
transaction; loading 100,000 rows that way takes minutes. This inserts whole ``reports`` rows (every column
given by the caller) many per statement, idempotently: rows whose ``upload_info_id`` exists are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

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
