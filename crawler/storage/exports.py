"""SQL for exports: which tables and columns an export writes, and their rows read from one snapshot.

``fundcrawl export --format csv|parquet`` writes one file per table. Every table of one export is read through
one :class:`ExportSnapshot`, so rows stored meanwhile never shift, duplicate or orphan what it writes.

Every row says the page it came from (``page_sha256``). A report's latest page has its rows in the normalized
tables; with every version selected, the earlier pages of the same report (kept in ``report_versions.document``)
get their rows from that document, built by :func:`crawler.storage.documents.normalized_rows` like a save builds
them, so one table holds the rows of every version and (``upload_info_id``, ``page_sha256``) tells them apart.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, UniqueConstraint, and_, select

from crawler.models import ReportDocument
from crawler.storage import tables
from crawler.storage.documents import document_date, normalized_rows, report_facts
from crawler.storage.queries import document_filters
from crawler.storage.tables import report_versions, reports

if TYPE_CHECKING:
    from crawler.storage.store import Store

Row = dict[str, Any]

#: Tables ``fundcrawl export --format csv|parquet`` writes, one file each.
EXPORT_TABLES = ("reports", "share_classes", "nav_values", "share_changes", "asset_allocation",
                 "industry_allocation", "holdings")
_REPORT_COLUMNS = ("upload_info_id", "fund_code", "fund_name", "fund_short_name", "report_kind",
                   "report_type_code", "report_year", "report_desp", "period_start", "period_end", "send_date",
                   "manager", "custodian", "organ_name", "total_net_assets", "ending_shares", "is_current",
                   "superseded_by", "superseded_by_sha256", "superseded_at", "page_sha256", "parser_version",
                   "check_failures", "stored_at")
#: Columns of the reports export that come from the page's version row rather than the reports row.
_VERSION_COLUMNS = frozenset({"superseded_by_sha256"})
#: Columns the reports row of an earlier page takes from the report's row (see :func:`_earlier_report_row`).
_LISTING_COLUMNS = ("fund_code", "fund_short_name", "report_type_code", "report_year", "report_desp",
                    "organ_name", "stored_at")
#: Kept documents read per fetch while building the rows of earlier pages.
DOCUMENTS_PER_FETCH = 200
#: The version row of a report's latest page.
_LATEST_VERSION = and_(report_versions.c.upload_info_id == reports.c.upload_info_id,
                       report_versions.c.page_sha256 == reports.c.page_sha256)


def _export_columns(table_name: str) -> list[Any]:
    table = tables.metadata.tables[table_name]
    if table is reports:
        return [(report_versions if name in _VERSION_COLUMNS else reports).c[name] for name in _REPORT_COLUMNS]
    upload_info_id, *rest = list(table.c)
    return [upload_info_id, reports.c.page_sha256, *rest]


def primary_key(table_name: str) -> list[str]:
    """The columns that identify one row of an export table: the page (``upload_info_id``, ``page_sha256``) and,
    below ``reports``, the row's place in it, so the rows of two pages of one report never share a key."""
    table = tables.metadata.tables[table_name]
    if table is reports:
        return ["upload_info_id", "page_sha256"]
    unique = next(c for c in table.constraints if isinstance(c, UniqueConstraint))
    return ["upload_info_id", "page_sha256", *(column.name for column in unique.columns
                                               if column.name != "upload_info_id")]


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


def _order(table_name: str) -> list[str]:
    """The columns rows of one page are ordered by, after their report."""
    table = tables.metadata.tables[table_name]
    return [name for name in ("kind", "position", "class_name") if name in table.c]


def iter_table_rows(connection: Connection, table_name: str, filters: Any, *, batch_size: int = 5000
                    ) -> Iterator[list[Row]]:
    """Batches of one export table's rows from the latest page of each stored report matching ``filters``, in key
    order, streamed from the database (constant memory; a server-side cursor on PostgreSQL)."""
    table = tables.metadata.tables[table_name]
    statement = select(*_export_columns(table_name)).where(*filters)
    if table is reports:
        statement = statement.select_from(reports.outerjoin(report_versions, _LATEST_VERSION))
    else:
        statement = statement.join(reports, reports.c.upload_info_id == table.c.upload_info_id)
    order = [table.c.upload_info_id, *(table.c[name] for name in _order(table_name))]
    result = connection.execution_options(yield_per=batch_size).execute(statement.order_by(*order))
    for partition in result.mappings().partitions():
        yield [dict(row) for row in partition]


def iter_earlier_page_rows(connection: Connection, table_name: str, filters: Any, *, batch_size: int = 5000
                           ) -> Iterator[Row]:
    """One export table's rows from every earlier page of the stored reports matching ``filters`` (a page the
    site later replaced behind the same id), built from the document kept with that version; in report and
    version order, each page's rows in key order."""
    v = report_versions.c
    statement = (
        select(v.upload_info_id, v.page_sha256, v.parser_version, v.send_date, v.is_current,
               v.superseded_by_upload_info_id, v.superseded_by_sha256, v.superseded_at, v.document,
               *(reports.c[name] for name in _LISTING_COLUMNS))
        .join(reports, reports.c.upload_info_id == v.upload_info_id)
        .where(*filters, v.page_sha256 != reports.c.page_sha256)
        .order_by(v.upload_info_id, v.id)
    )
    columns = [name for name, _kind in export_columns(table_name)]
    table = tables.metadata.tables[table_name]
    order = _order(table_name)
    # A whole document per version (an annual report's runs to hundreds of kilobytes): a few hundred at a time.
    result = connection.execution_options(yield_per=min(batch_size, DOCUMENTS_PER_FETCH)).execute(statement)
    for version in result.mappings():
        document = cast(ReportDocument, version["document"] or {})
        if table is reports:
            rows = [_earlier_report_row(version, document)]
        else:
            built = normalized_rows(document, int(version["upload_info_id"]), version["parser_version"] or "")
            rows = sorted(built[table], key=lambda row: tuple(row[name] for name in order))
        for row in rows:
            yield {name: version["page_sha256"] if name == "page_sha256" else row.get(name) for name in columns}


def _earlier_report_row(version: Any, document: ReportDocument) -> Row:
    """The reports row of an earlier page: the listing as the report's row holds it, the parsed facts as that
    page printed them, and the version's own page, parser and supersession. Its checks were not kept, so
    ``check_failures`` is null."""
    return {
        **{name: version[name] for name in _REPORT_COLUMNS if name in version},
        **report_facts(document),
        "period_end": document_date(document.get("period_end")),
        "is_current": bool(version["is_current"]),
        "superseded_by": version["superseded_by_upload_info_id"],
        "check_failures": None,
    }


def _merged(earlier: Iterator[Row], latest: Iterator[list[Row]], batch_size: int) -> Iterator[list[Row]]:
    """Both streams as one, in report order (a report's earlier pages before its latest), ``batch_size`` rows at a
    time."""
    merged = heapq.merge(earlier, chain.from_iterable(latest), key=lambda row: int(row["upload_info_id"]))
    while batch := list(islice(merged, batch_size)):
        yield batch


def partition_reports(connection: Connection, filters: Any, *, all_versions: bool = False) -> list[Row]:
    """The stored reports matching ``filters`` with their partition (report kind, period end) and what changes
    when any of their rows change (page, parser, version flag, last update), in partition order; with
    ``all_versions``, one row per version of each report, with what superseded it."""
    if not all_versions:
        statement = (
            select(reports.c.report_kind, reports.c.period_end, reports.c.upload_info_id, reports.c.page_sha256,
                   reports.c.parser_version, reports.c.is_current, reports.c.updated_at)
            .where(*filters)
            .order_by(reports.c.report_kind, reports.c.period_end, reports.c.upload_info_id)
        )
    else:
        v = report_versions.c
        statement = (
            select(reports.c.report_kind, reports.c.period_end, reports.c.upload_info_id, v.page_sha256,
                   v.parser_version, v.is_current, reports.c.updated_at, v.superseded_by_sha256)
            .join(report_versions, v.upload_info_id == reports.c.upload_info_id)
            .where(*filters)
            .order_by(reports.c.report_kind, reports.c.period_end, reports.c.upload_info_id, v.id)
        )
    return [dict(row) for row in connection.execute(statement).mappings()]


def partition_filter(report_kind: str | None, period_end: dt.date | None) -> list[Any]:
    """WHERE clauses selecting one (report kind, period end) partition of the reports."""
    return [reports.c.report_kind.is_(None) if report_kind is None else reports.c.report_kind == report_kind,
            reports.c.period_end.is_(None) if period_end is None else reports.c.period_end == period_end]


class ExportSnapshot:
    """The stored reports an export selected, as of one moment: every read sees the same reports."""

    def __init__(self, connection: Connection, filters: list[Any], *, all_versions: bool = False) -> None:
        self._connection = connection
        self._filters = filters
        self._all_versions = all_versions

    def table_rows(self, table_name: str, *, batch_size: int = 5000,
                   partition: tuple[str | None, dt.date | None] | None = None) -> Iterator[list[Row]]:
        """Batches of one export table's rows, in report order; only one (report kind, period end) partition's
        when ``partition`` is given (an earlier page of a report is in its report's partition). With every
        version selected, the rows of each report's earlier pages come first, then its latest page's."""
        filters = self._filters if partition is None else [*self._filters, *partition_filter(*partition)]
        latest = iter_table_rows(self._connection, table_name, filters, batch_size=batch_size)
        if not self._all_versions:
            return latest
        earlier = iter_earlier_page_rows(self._connection, table_name, filters, batch_size=batch_size)
        return _merged(earlier, latest, batch_size)

    def partition_reports(self) -> list[Row]:
        """The selected reports (every version of each, when all are selected) with their partition (report kind,
        period end) and what changes when any of their rows change, in partition order."""
        return partition_reports(self._connection, self._filters, all_versions=self._all_versions)


class Exports:
    """Snapshots for exports (``store.exports``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @contextmanager
    def snapshot(self, *, fund_codes: Iterable[str] | None = None, report_types: Iterable[str] | None = None,
                 period_from: dt.date | None = None, period_to: dt.date | None = None, all_versions: bool = False
                 ) -> Iterator[ExportSnapshot]:
        """The stored reports matching these filters (report types by name or EID code), read through one
        snapshot of the database (see :meth:`Store.snapshot`); the current version of each slot, or every
        version stored (each page of each report) with ``all_versions``."""
        filters = document_filters(fund_codes, report_types, period_from, period_to, current_only=not all_versions)
        with self._store.snapshot() as connection:
            yield ExportSnapshot(connection, filters, all_versions=all_versions)
