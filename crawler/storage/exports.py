"""SQL for exports: which tables and columns an export writes, and their rows read from one snapshot.

``fundcrawl export --format csv|parquet`` writes one file per table. Every table of one export is read through
one :class:`ExportSnapshot`, so rows stored meanwhile never shift, duplicate or orphan what it writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, UniqueConstraint, select

from crawler.storage import tables
from crawler.storage.queries import document_filters
from crawler.storage.tables import reports

if TYPE_CHECKING:
    from crawler.storage.store import Store

#: Tables ``fundcrawl export --format csv|parquet`` writes, one file each.
EXPORT_TABLES = ("reports", "share_classes", "nav_values", "share_changes", "asset_allocation",
                 "industry_allocation", "holdings")
_REPORT_COLUMNS = ("upload_info_id", "fund_code", "fund_name", "fund_short_name", "report_kind",
                   "report_type_code", "report_year", "report_desp", "period_start", "period_end", "send_date",
                   "manager", "custodian", "organ_name", "total_net_assets", "ending_shares", "is_current",
                   "superseded_by", "page_sha256", "parser_version", "check_failures", "stored_at")


def _export_columns(table_name: str) -> list[Any]:
    table = tables.metadata.tables[table_name]
    return [reports.c[name] for name in _REPORT_COLUMNS] if table is reports else list(table.c)


def primary_key(table_name: str) -> list[str]:
    """The columns that identify one row of an export table."""
    table = tables.metadata.tables[table_name]
    if table is reports:
        return ["upload_info_id"]
    unique = next(c for c in table.constraints if isinstance(c, UniqueConstraint))
    return [column.name for column in unique.columns]


def export_columns(table_name: str) -> list[tuple[str, str]]:
    """``(column, kind)`` of an export table; kind is decimal, int, text, date, datetime, bool or json."""
    return [(column.name, _kind(column.type)) for column in _export_columns(table_name)]


def _kind(column_type: Any) -> str:
    name = type(column_type).__name__.lower()
    for needle, kind in (("decimal", "decimal"), ("json", "json"), ("bool", "bool"), ("datetime", "datetime"),
                         ("date", "date"), ("int", "int")):
        if needle in name:
            return kind
    return "text"


def iter_table_rows(connection: Connection, table_name: str, filters: Any, *, batch_size: int = 5000
                    ) -> Iterator[list[dict[str, Any]]]:
    """Batches of one export table's rows for stored reports matching ``filters``, in key order, streamed from
    the database (constant memory; a server-side cursor on PostgreSQL)."""
    table = tables.metadata.tables[table_name]
    statement = select(*_export_columns(table_name)).where(*filters)
    if table is not reports:
        statement = statement.join(reports, reports.c.upload_info_id == table.c.upload_info_id)
    order = [table.c[name] for name in ("upload_info_id", "kind", "position", "class_name") if name in table.c]
    result = connection.execution_options(yield_per=batch_size).execute(statement.order_by(*order))
    for partition in result.mappings().partitions():
        yield [dict(row) for row in partition]


def partition_reports(connection: Connection, filters: Any) -> list[dict[str, Any]]:
    """The stored reports matching ``filters`` with their partition (report kind, period end) and what changes
    when any of their rows change (page, parser, version flag, last update), in partition order."""
    statement = (
        select(reports.c.report_kind, reports.c.period_end, reports.c.upload_info_id, reports.c.page_sha256,
               reports.c.parser_version, reports.c.is_current, reports.c.updated_at)
        .where(*filters)
        .order_by(reports.c.report_kind, reports.c.period_end, reports.c.upload_info_id)
    )
    return [dict(row) for row in connection.execute(statement).mappings()]


def partition_filter(report_kind: str | None, period_end: dt.date | None) -> list[Any]:
    """WHERE clauses selecting one (report kind, period end) partition of the reports."""
    return [reports.c.report_kind.is_(None) if report_kind is None else reports.c.report_kind == report_kind,
            reports.c.period_end.is_(None) if period_end is None else reports.c.period_end == period_end]


class ExportSnapshot:
    """The stored reports an export selected, as of one moment: every read sees the same reports."""

    def __init__(self, connection: Connection, filters: list[Any]) -> None:
        self._connection = connection
        self._filters = filters

    def table_rows(self, table_name: str, *, batch_size: int = 5000,
                   partition: tuple[str | None, dt.date | None] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Batches of one export table's rows, in key order; only one (report kind, period end) partition's
        when ``partition`` is given."""
        filters = self._filters if partition is None else [*self._filters, *partition_filter(*partition)]
        return iter_table_rows(self._connection, table_name, filters, batch_size=batch_size)

    def partition_reports(self) -> list[dict[str, Any]]:
        """The selected reports with their partition (report kind, period end) and what changes when any of
        their rows change (page, parser, version flag, last update), in partition order."""
        return partition_reports(self._connection, self._filters)


class Exports:
    """Snapshots for exports (``store.exports``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @contextmanager
    def snapshot(self, *, fund_codes: Iterable[str] | None = None, report_types: Iterable[str] | None = None,
                 period_from: dt.date | None = None, period_to: dt.date | None = None, current_only: bool = True
                 ) -> Iterator[ExportSnapshot]:
        """The stored reports matching these filters (report types by name or EID code), read through one
        snapshot of the database (see :meth:`Store.snapshot`); only the current version of each slot unless
        ``current_only`` is false."""
        filters = document_filters(fund_codes, report_types, period_from, period_to, current_only=current_only)
        with self._store.snapshot() as connection:
            yield ExportSnapshot(connection, filters)
