"""SQL for how the crawl is doing: reports that failed, reports late for their deadline, and stored reports whose
page did not parse as expected (unknown sections, failing cross-checks). Read by ``run --once``'s summary, the
hourly upkeep's alerts and ``fundcrawl status``.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Text, cast, or_, select

from crawler.storage.tables import reports

if TYPE_CHECKING:
    from crawler.storage.store import Store


def _rows(connection: Connection, statement: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in connection.execute(statement).mappings()]


def failures_since(connection: Connection, since: dt.datetime) -> list[dict[str, Any]]:
    """Reports that ended failed at or after ``since``, with reason, attempts and last error."""
    statement = (
        select(reports.c.upload_info_id, reports.c.fund_code, reports.c.report_type_code, reports.c.failure_reason,
               reports.c.attempts, reports.c.last_error)
        .where(reports.c.state == "failed", reports.c.updated_at >= since)
        .order_by(reports.c.upload_info_id)
    )
    return _rows(connection, statement)


def late_reports(connection: Connection, sent_after: dt.date, sent_on_or_before: dt.date, limit: int
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
    return _rows(connection, statement)


def layout_signals(connection: Connection, stored_since: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Reports stored since a moment whose page had unknown sections or failing cross-checks."""
    statement = (
        select(reports.c.upload_info_id, reports.c.unknown_sections, reports.c.check_failures, reports.c.checks)
        .where(reports.c.state == "stored", reports.c.stored_at >= stored_since)
        .order_by(reports.c.stored_at.desc())
        .limit(limit)
    )
    return [row for row in _rows(connection, statement) if row["unknown_sections"] or row["check_failures"]]


def flagged_reports(connection: Connection, limit: int) -> list[dict[str, Any]]:
    """Among the latest ``limit`` stored reports, those that failed a cross-check or had unknown sections."""
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
    return _rows(connection, statement)


def summarize_flags(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How many reports failed a cross-check (the first 20 named with their checks) and each unknown heading's
    count (the 20 most frequent)."""
    flagged: list[dict[str, Any]] = []
    headings: dict[str, int] = {}
    for row in rows:
        for heading in row["unknown_sections"] or []:
            headings[heading] = headings.get(heading, 0) + 1
        if row["check_failures"]:
            failed = sorted(name for name, message in (row["checks"] or {}).items() if message)
            flagged.append({"upload_info_id": row["upload_info_id"], "failed_checks": failed})
    top = dict(sorted(headings.items(), key=lambda item: (-item[1], item[0]))[:20])
    return {"flagged_reports": len(flagged), "flagged": flagged[:20], "unknown_sections": top}


class Health:
    """Failed, late and oddly parsed reports (``store.health``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def failures_since(self, since: dt.datetime) -> list[dict[str, Any]]:
        """Reports that ended failed at or after ``since``, with reason, attempts and last error."""
        return self._store.read(partial(failures_since, since=since))

    def late_reports(self, sent_after: dt.date, sent_on_or_before: dt.date, limit: int = 100
                     ) -> list[dict[str, Any]]:
        """Listed reports sent within a span of days that are still not stored."""
        return self._store.read(partial(late_reports, sent_after=sent_after, sent_on_or_before=sent_on_or_before,
                                        limit=limit))

    def layout_signals(self, stored_since: dt.datetime, limit: int = 1000) -> list[dict[str, Any]]:
        """Reports stored since a moment whose page had unknown sections or failing cross-checks."""
        return self._store.read(partial(layout_signals, stored_since=stored_since, limit=limit))

    def parse_flag_summary(self, limit: int = 5000) -> dict[str, Any]:
        """Among the latest stored reports: how many failed a cross-check, and each unknown heading's count."""
        return summarize_flags(self._store.read(partial(flagged_reports, limit=limit)))
