"""Read-only queries behind :class:`crawler.storage.store.Store`: status, failures, export, re-parse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Row, Text, and_, func, or_, select, true

from crawler.models import REPORT_TYPES, ExportedDocument, ReportDocument, ReportItem, Supersession
from crawler.storage.documents import storable_json
from crawler.storage.tables import ACTIVE_STATES, report_documents, report_versions, reports

#: The listing fields of a report row, in ReportRef's order.
LISTING_COLUMNS = (
    "upload_info_id",
    "report_type_code",
    "fund_code",
    "fund_short_name",
    "organ_name",
    "report_year",
    "report_desp",
    "send_date",
    "upload_date",
    "fund_id",
)
#: Those columns of the reports table (a claim returns them with its compare-and-set).
LISTING = tuple(reports.c[name] for name in LISTING_COLUMNS)
STATE_COLUMNS = (
    "upload_info_id",
    "state",
    "attempts",
    "lease_until",
    "enqueued_at",
    "failure_reason",
    "last_error",
    "page_sha256",
    "archive_path",
    "final_url",
    "parser_version",
    "check_failures",
    "stored_at",
    "updated_at",
)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def listing(connection: Connection, upload_info_id: int) -> dict[str, Any] | None:
    """The report's listing row as the checks expect it: ReportRef's keys, dates as ISO strings."""
    row = connection.execute(select(*LISTING).where(reports.c.upload_info_id == upload_info_id)).first()
    return None if row is None else listing_of(row)


def listing_of(row: Row[Any]) -> dict[str, Any]:
    """A row holding the listing columns as the checks expect it: ReportRef's keys, dates as ISO strings."""
    return {key: _iso(row._mapping[key]) for key in LISTING_COLUMNS}


def state(connection: Connection, upload_info_id: int) -> dict[str, Any] | None:
    """The state-machine columns of one report."""
    columns = [reports.c[name] for name in STATE_COLUMNS]
    row = connection.execute(select(*columns).where(reports.c.upload_info_id == upload_info_id)).first()
    return None if row is None else dict(row._mapping)


def already_stored(connection: Connection, item: ReportItem) -> bool:
    """The report is stored from the item's page by its parser version, and with the same result.

    The same page and parser version do not prove the same result: a parser fixed without a version bump
    produces a different document from the same bytes, and that must be stored. One query; the stored result
    comes back only when the key matches, so a first save (nearly every save) compares nothing.
    """
    return already_stored_many(connection, [item])[0]


def already_stored_many(connection: Connection, items: Sequence[ReportItem]) -> list[bool]:
    """:func:`already_stored` for each of ``items``, in one query."""
    if not items:
        return []
    statement = select(reports.c.upload_info_id, reports.c.page_sha256, reports.c.parser_version,
                       report_documents.c.document.cast(Text).label("document_text"), reports.c.checks,
                       reports.c.unknown_sections, reports.c.section_errors).join(
        report_documents, report_documents.c.upload_info_id == reports.c.upload_info_id).where(
        reports.c.upload_info_id.in_(sorted({item.upload_info_id for item in items})), reports.c.state == "stored",
        or_(*(and_(reports.c.upload_info_id == item.upload_info_id, reports.c.page_sha256 == item.page_sha256,
                   reports.c.parser_version == item.parser_version) for item in items)))
    found = {(row.upload_info_id, row.page_sha256, row.parser_version): row for row in connection.execute(statement)}
    return [_same_result(found.get((item.upload_info_id, item.page_sha256, item.parser_version)), item)
            for item in items]


def _same_result(row: Any, item: ReportItem) -> bool:
    if row is None:
        return False
    # The document as its column holds it against the text a save of this one would write (the column keeps the
    # text it was given, on both engines): the stored document is not parsed, and neither side is walked or
    # sorted in Python, which was most of the cost of a re-parse's check. A document stored by a release that
    # wrote another text for the same value is then saved once more, the same value in today's text.
    if row.document_text != storable_json(item.document, sort_keys=False)[1]:
        return False
    stored = (row.checks or {}, row.unknown_sections or [], row.section_errors or {})
    produced = (dict(item.checks), list(item.unknown_sections), dict(item.section_errors))
    # Both sides as JSON text, keys sorted: tuples and lists alike, and a number as the column gives it back (a
    # float keeps its shortest repr both ways). Comparing the text skips parsing both values again.
    return all(storable_json(old)[1] == storable_json(new)[1] for old, new in zip(stored, produced, strict=True))


def pending_count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).where(reports.c.state.in_(ACTIVE_STATES))).scalar_one())


def counts(connection: Connection) -> dict[str, int]:
    """Reports by state; ``pending`` includes the ones being fetched right now."""
    rows = connection.execute(select(reports.c.state, func.count()).group_by(reports.c.state)).all()
    by_state = {state_: int(number) for state_, number in rows}
    return {
        "total": sum(by_state.values()),
        "stored": by_state.get("stored", 0),
        "failed": by_state.get("failed", 0),
        "pending": sum(by_state.get(name, 0) for name in ACTIVE_STATES),
    }


def recent_failures(connection: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest failed reports with their reason, attempts and last error."""
    statement = (
        select(
            reports.c.upload_info_id,
            reports.c.fund_code,
            reports.c.report_type_code,
            reports.c.report_year,
            reports.c.failure_reason,
            reports.c.attempts,
            reports.c.last_error,
            reports.c.updated_at,
        )
        .where(reports.c.state == "failed")
        .order_by(reports.c.updated_at.desc(), reports.c.upload_info_id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(statement)]


def oldest_pending(connection: Connection) -> dict[str, Any] | None:
    """The non-terminal report discovered longest ago (a stuck queue shows here, not in the broker)."""
    statement = (
        select(
            reports.c.upload_info_id,
            reports.c.state,
            reports.c.attempts,
            reports.c.discovered_at,
            reports.c.send_date,
            reports.c.last_error,
        )
        .where(reports.c.state.in_(ACTIVE_STATES))
        .order_by(reports.c.discovered_at, reports.c.upload_info_id)
        .limit(1)
    )
    row = connection.execute(statement).first()
    return None if row is None else dict(row._mapping)


def failed_ids(connection: Connection, reason: str | None) -> list[int]:
    statement = select(reports.c.upload_info_id).where(reports.c.state == "failed")
    if reason is not None:
        statement = statement.where(reports.c.failure_reason == reason)
    return list(connection.scalars(statement.order_by(reports.c.upload_info_id)))


def stored_for_reparse(connection: Connection, parser_version: str, all_: bool) -> list[tuple[int, str]]:
    """``(upload_info_id, page_sha256)`` of stored reports parsed by another version (or all of them)."""
    statement = select(reports.c.upload_info_id, reports.c.page_sha256).where(reports.c.state == "stored")
    if not all_:
        statement = statement.where(
            (reports.c.parser_version != parser_version) | reports.c.parser_version.is_(None)
        )
    rows = connection.execute(statement.order_by(reports.c.upload_info_id))
    return [(int(upload_info_id), str(sha)) for upload_info_id, sha in rows]


def referenced_pages(connection: Connection) -> set[str]:
    """The sha256 of every archived page a report row or a report version points at (what the orphan sweep must
    keep: a page superseded by a correction stays, it is the evidence of what the site first published)."""
    statement = select(reports.c.page_sha256).where(reports.c.page_sha256.is_not(None)).distinct()
    found = {str(sha) for sha in connection.scalars(statement)}
    return found | {str(sha) for sha in connection.scalars(select(report_versions.c.page_sha256).distinct())}


def document(connection: Connection, upload_info_id: int) -> ReportDocument | None:
    statement = select(report_documents.c.document).where(report_documents.c.upload_info_id == upload_info_id)
    found = connection.execute(statement).first()
    return None if found is None else cast(ReportDocument, dict(found.document))


def document_filters(
    fund_codes: Iterable[str] | None,
    report_types: Iterable[str] | None,
    period_from: dt.date | None,
    period_to: dt.date | None,
    current_only: bool = True,
) -> list[ColumnElement[bool]]:
    """WHERE clauses for an export; report types may be names (``annual``) or EID codes (``FB010010``).

    ``current_only`` keeps the current version of each slot (a report superseded by a correction is left out).
    """
    filters: list[ColumnElement[bool]] = [reports.c.state == "stored"]
    if current_only:
        filters.append(reports.c.is_current == true())
    if fund_codes is not None:
        filters.append(reports.c.fund_code.in_(list(fund_codes)))
    if report_types is not None:
        codes = [REPORT_TYPES.get(name, name) for name in report_types]
        filters.append(reports.c.report_type_code.in_(codes))
    if period_from is not None:
        filters.append(reports.c.period_end >= period_from)
    if period_to is not None:
        filters.append(reports.c.period_end <= period_to)
    return filters


def iter_documents(
    connection: Connection, filters: list[ColumnElement[bool]], batch_size: int, all_versions: bool = False
) -> Iterator[tuple[int, ExportedDocument]]:
    """Every matching ``(upload_info_id, document)`` in id order, ``batch_size`` at a time, on one connection;
    with ``all_versions``, every version's ``(version id, document)`` in version order."""
    page = version_documents_after if all_versions else documents_after
    after = 0
    while True:
        batch = page(connection, filters, after, batch_size)
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1][0]


def documents_after(
    connection: Connection, filters: list[ColumnElement[bool]], after: int, limit: int
) -> list[tuple[int, ExportedDocument]]:
    """One keyset page of ``(upload_info_id, document)`` with ids above ``after``; each document also says its
    ``upload_info_id``, ``page_sha256``, ``is_current`` and ``superseded_by`` (the report's latest page)."""
    statement = (
        select(report_documents.c.upload_info_id, report_documents.c.document, reports.c.page_sha256,
               reports.c.is_current, reports.c.superseded_by, reports.c.superseded_at)
        .join(reports, reports.c.upload_info_id == report_documents.c.upload_info_id)
        .where(*filters, report_documents.c.upload_info_id > after)
        .order_by(report_documents.c.upload_info_id)
        .limit(limit)
    )
    found = []
    for row in connection.execute(statement):
        by = None if row.superseded_by is None else {"upload_info_id": int(row.superseded_by),
                                                     "at": _iso(row.superseded_at)}
        facts = {"upload_info_id": int(row.upload_info_id), "page_sha256": row.page_sha256,
                 "is_current": bool(row.is_current), "superseded_by": by}
        found.append((int(row.upload_info_id), _exported(row.document, facts)))
    return found


def version_documents_after(
    connection: Connection, filters: list[ColumnElement[bool]], after: int, limit: int
) -> list[tuple[int, ExportedDocument]]:
    """One keyset page of ``(version id, version facts + document)`` of every version, ids above ``after``.

    A report's latest page has its document in ``report_documents``; earlier pages of the same report keep
    theirs in the version row.
    """
    v = report_versions.c
    statement = (
        select(v.id, v.upload_info_id, v.page_sha256, v.is_current, v.superseded_by_upload_info_id,
               v.superseded_by_sha256, v.superseded_at, v.document.label("kept"),
               reports.c.page_sha256.label("latest_sha256"), report_documents.c.document)
        .join(reports, reports.c.upload_info_id == v.upload_info_id)
        .join(report_documents, report_documents.c.upload_info_id == v.upload_info_id)
        .where(*filters, v.id > after)
        .order_by(v.id)
        .limit(limit)
    )
    found = []
    for row in connection.execute(statement):
        document = row.document if row.page_sha256 == row.latest_sha256 else row.kept
        facts = {"upload_info_id": int(row.upload_info_id), "page_sha256": row.page_sha256,
                 "is_current": bool(row.is_current), "superseded_by": superseded_by(row)}
        found.append((int(row.id), _exported(document or {}, facts)))
    return found


def _exported(document: dict[str, Any], facts: dict[str, Any]) -> ExportedDocument:
    """A stored document (storage checked its types when it saved it) with the stored report's facts."""
    return cast(ExportedDocument, {**dict(document), **facts})


def superseded_by(row: Any) -> Supersession | None:
    """What superseded a version, as exports show it: ``{"upload_info_id", "page_sha256", "at"}`` or None."""
    if row.superseded_by_upload_info_id is None:
        return None
    return {"upload_info_id": int(row.superseded_by_upload_info_id), "page_sha256": row.superseded_by_sha256,
            "at": _iso(row.superseded_at)}


def versions(connection: Connection, upload_info_ids: Iterable[int] | None) -> list[dict[str, Any]]:
    """Version rows (without their kept documents), by slot, oldest first."""
    v = report_versions.c
    statement = select(*(column for column in report_versions.c if column.name != "document"))
    if upload_info_ids is not None:
        statement = statement.where(v.upload_info_id.in_(list(upload_info_ids)))
    return [dict(row._mapping) for row in connection.execute(statement.order_by(v.slot, v.id))]


def corrections(connection: Connection) -> dict[str, int]:
    """Superseded versions by kind: a new page behind the same id, or a new id for the slot."""
    v = report_versions.c
    same = v.superseded_by_upload_info_id == v.upload_info_id
    rows = connection.execute(
        select(same.label("same"), func.count()).where(v.superseded_by_upload_info_id.is_not(None)).group_by(same)
    ).all()
    by_kind = {bool(flag): int(number) for flag, number in rows}
    return {"same_id": by_kind.get(True, 0), "new_id": by_kind.get(False, 0)}


REVERIFY_COLUMNS = ("upload_info_id", "send_date", "final_url", "page_etag", "page_last_modified", "verified_at",
                    "fetched_at", "report_type_code", "fund_code", "page_sha256")


def reverify_candidates(connection: Connection, type_codes: list[str], years: list[str],
                        sent_since: dt.date | None) -> list[dict[str, Any]]:
    """Current stored reports of these partitions (``""`` in ``years`` means any year), for re-checking."""
    statement = select(*(reports.c[name] for name in REVERIFY_COLUMNS)).where(
        reports.c.state == "stored", reports.c.is_current == true(),
        reports.c.report_type_code.in_(type_codes))
    if "" not in years:
        statement = statement.where(reports.c.report_year.in_(years))
    if sent_since is not None:
        statement = statement.where(reports.c.send_date >= sent_since)
    return [dict(row._mapping) for row in connection.execute(statement.order_by(reports.c.upload_info_id))]
