"""Operator queries: recent discovery runs and failures since a moment (``fundcrawl status``, ``run --once``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, Text, UniqueConstraint, cast, or_, select

from crawler.storage import tables
from crawler.storage.engine import READ_ONLY, run_unit
from crawler.storage.tables import discovery_runs, reports


def _rows(engine: Engine, statement: Any) -> list[dict[str, Any]]:
    def work() -> list[dict[str, Any]]:
        # Read-only: on SQLite a plain transaction would take the write lock (BEGIN IMMEDIATE) and queue readers.
        with engine.connect().execution_options(**READ_ONLY) as connection, connection.begin():
            return [dict(row._mapping) for row in connection.execute(statement)]

    return run_unit(work)


def recent_runs(engine: Engine, limit: int = 10) -> list[dict[str, Any]]:
    """The latest discovery runs, newest first, with their figures."""
    statement = select(discovery_runs).order_by(discovery_runs.c.started_at.desc()).limit(limit)
    return _rows(engine, statement)


def failures_since(engine: Engine, since: dt.datetime) -> list[dict[str, Any]]:
    """Reports that ended failed at or after ``since``, with reason, attempts and last error."""
    statement = (
        select(reports.c.upload_info_id, reports.c.fund_code, reports.c.report_type_code, reports.c.failure_reason,
               reports.c.attempts, reports.c.last_error)
        .where(reports.c.state == "failed", reports.c.updated_at >= since)
        .order_by(reports.c.upload_info_id)
    )
    return _rows(engine, statement)


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


def iter_table_rows(connection: Connection, table_name: str, filters: Any, *, batch_size: int = 5000
                    ) -> Iterator[list[dict[str, Any]]]:
    """Batches of one export table's rows for stored reports matching ``filters``, in key order, streamed from
    the database (constant memory; a server-side cursor on PostgreSQL). Run it inside one snapshot
    (``Store.snapshot``) for every table of an export, so that all of them show the same reports."""
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


def late_reports(engine: Engine, sent_after: dt.date, sent_on_or_before: dt.date, limit: int = 100
                 ) -> list[dict[str, Any]]:
    """Listed reports sent within a span of days that are still not stored (the freshness alert's work list)."""
    statement = (
        select(reports.c.upload_info_id, reports.c.fund_code, reports.c.send_date, reports.c.state,
               reports.c.failure_reason)
        .where(reports.c.state != "stored", reports.c.send_date > sent_after,
               reports.c.send_date <= sent_on_or_before)
        .order_by(reports.c.send_date, reports.c.upload_info_id)
        .limit(limit)
    )
    return _rows(engine, statement)


def layout_signals(engine: Engine, stored_since: dt.datetime, limit: int = 1000) -> list[dict[str, Any]]:
    """Reports stored since a moment whose page had unknown sections or failing cross-checks."""
    statement = (
        select(reports.c.upload_info_id, reports.c.unknown_sections, reports.c.check_failures, reports.c.checks)
        .where(reports.c.state == "stored", reports.c.stored_at >= stored_since)
        .order_by(reports.c.stored_at.desc())
        .limit(limit)
    )
    return [row for row in _rows(engine, statement) if row["unknown_sections"] or row["check_failures"]]


def last_run_started(engine: Engine, schedule: str) -> dt.datetime | None:
    """When the latest run of a schedule (or of an internal job such as ``alerts``) started."""
    statement = (select(discovery_runs.c.started_at).where(discovery_runs.c.schedule == schedule)
                 .order_by(discovery_runs.c.started_at.desc()).limit(1))
    rows = _rows(engine, statement)
    return rows[0]["started_at"] if rows else None


def parse_flag_summary(engine: Engine, limit: int = 5000) -> dict[str, Any]:
    """Among the latest stored reports: how many failed a cross-check, and each unknown heading's count."""
    # Only the flagged rows of the window leave the database: decoding every row's JSON took 10x the query
    # (bench/scale.py). An unflagged report has no failed check and an empty list of unknown headings.
    latest = (
        select(reports.c.upload_info_id, reports.c.unknown_sections, reports.c.check_failures, reports.c.checks,
               reports.c.stored_at)
        .where(reports.c.state == "stored")
        .order_by(reports.c.stored_at.desc())
        .limit(limit)
        .subquery()
    )
    statement = (
        select(latest.c.upload_info_id, latest.c.unknown_sections, latest.c.check_failures, latest.c.checks)
        .where(or_(latest.c.check_failures > 0, cast(latest.c.unknown_sections, Text) != "[]"))
        .order_by(latest.c.stored_at.desc())
    )
    flagged: list[dict[str, Any]] = []
    headings: dict[str, int] = {}
    for row in _rows(engine, statement):
        for heading in row["unknown_sections"] or []:
            headings[heading] = headings.get(heading, 0) + 1
        if row["check_failures"]:
            failed = sorted(name for name, message in (row["checks"] or {}).items() if message)
            flagged.append({"upload_info_id": row["upload_info_id"], "failed_checks": failed})
    top = dict(sorted(headings.items(), key=lambda item: (-item[1], item[0]))[:20])
    return {"flagged_reports": len(flagged), "flagged": flagged[:20], "unknown_sections": top}


def unfinished_backfill(engine: Engine, spec: dict[str, Any]) -> int | None:
    """The newest backfill job with exactly this spec that has not finished, so a rerun resumes it."""
    statement = (select(tables.backfill_jobs.c.id, tables.backfill_jobs.c.spec)
                 .where(tables.backfill_jobs.c.status != "done")
                 .order_by(tables.backfill_jobs.c.id.desc()))
    for row in _rows(engine, statement):
        if row["spec"] == spec:
            return int(row["id"])
    return None


def run_in_progress(engine: Engine, schedule: str, started_after: dt.datetime) -> bool:
    """Whether a run of this schedule started after a moment and has not finished (it may still be walking)."""
    statement = (select(discovery_runs.c.id)
                 .where(discovery_runs.c.schedule == schedule, discovery_runs.c.status == "running",
                        discovery_runs.c.started_at > started_after)
                 .limit(1))
    return bool(_rows(engine, statement))
