"""Saving one parsed report: document, normalized rows and the ``stored`` state in one transaction.

A second save of the same report (a redelivered task, a re-parse) replaces the report's rows with identical
ones, so it is a no-op in effect; a report that already ended ``failed`` is left alone until it is replayed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, Text, and_, bindparam, delete, func, select, update

from crawler.models import REPORT_TYPES, ReportDocument, ReportItem
from crawler.storage.bulk import insert_rows
from crawler.storage.documents import (
    document_date,
    iso_date,
    normalized_rows,
    report_facts,
    require_document,
    storable,
    storable_json,
)
from crawler.storage.tables import NORMALIZED, report_documents, report_versions, reports
from crawler.storage.types import UTCDateTime
from crawler.storage.upsert import insert
from crawler.storage.versions import (
    Correction,
    keep_replaced_document,
    lock_slot,
    lock_slots,
    record_version,
    refresh_current_page,
    settle_slot,
    slot_of_item,
)


@dataclass(frozen=True)
class Saved:
    """A report saved; ``correction`` when this save changed (or revealed) its slot's current version."""

    correction: Correction | None = None


@dataclass(frozen=True)
class Prepared:
    """A report ready to save: what its transaction writes, worked out before the transaction starts.

    Checking the document and turning it into rows is pure work; done first, it never holds SQLite's one write lock
    (or a PostgreSQL row lock) while other processes wait for it.
    """

    item: ReportItem
    document: ReportDocument
    #: the document as its JSON column stores it (serialized here, so the driver does not serialize it again)
    document_text: str
    listing: dict[str, Any]
    slot: str
    rows: dict[Table, list[dict[str, Any]]]


def prepare_report(item: ReportItem) -> Prepared:
    """Check ``item``'s document and build its rows; :class:`crawler.storage.documents.DocumentError` when the
    document does not fit ``fundcrawl.report/1`` (nothing is written then)."""
    # Checked as handed over: a value of the wrong type is refused, never made to fit. A document's values are
    # text, numbers, booleans, null, lists and objects, so storable only drops NUL from its text (rarely any).
    document, text = storable_json(require_document(item.document, item.upload_info_id), sort_keys=False)
    listing = storable(dict(item.listing))
    return Prepared(item, document, text, listing, slot_of_item(item.upload_info_id, listing, document),
                    normalized_rows(document, item.upload_info_id, item.parser_version))


def save_report(connection: Connection, prepared: Prepared, archive_path: str, now: dt.datetime) -> Saved | None:
    """Store a prepared report on ``connection`` (inside the caller's transaction); None when the report is failed.

    The page becomes a version of the report's slot (see :mod:`crawler.storage.versions`), and the slot's
    current version is settled in the same transaction; the report's stored page saved again (a re-parse, a
    redelivered task) only refreshes its version, which changes nothing in the slot's order.
    """
    item, document = prepared.item, prepared.document
    lock_slot(connection, prepared.slot)
    found = _lock_report_row(connection, prepared, now)
    stored_before = found.stored_at is not None
    if stored_before and found.page_sha256 and found.page_sha256 != item.page_sha256:
        keep_replaced_document(connection, item.upload_info_id, found.page_sha256)
    if not _mark_stored(connection, item, document, archive_path, now):
        return None
    _upsert_documents(connection, [prepared])
    if stored_before:
        for table in NORMALIZED:
            connection.execute(delete(table).where(table.c.upload_info_id == item.upload_info_id))
    for table, rows in prepared.rows.items():
        insert_rows(connection, table, rows)
    slot = found.slot or prepared.slot  # a slot the report's row already names stays its slot
    version = {"upload_info_id": item.upload_info_id, "page_sha256": item.page_sha256, "slot": slot,
               "send_date": found.send_date, "parser_version": item.parser_version, "now": now}
    if stored_before and found.page_sha256 == item.page_sha256 and refresh_current_page(connection, **version):
        return Saved()
    is_new = record_version(connection, **version)
    correction = settle_slot(connection, slot, now, saved=(item.upload_info_id, item.page_sha256),
                             saved_is_new=is_new)
    return Saved(correction)


def save_reports(connection: Connection, batch: Sequence[tuple[Prepared, str]],
                 now: dt.datetime) -> list[Saved | None]:
    """Store prepared reports (each with its archive path) on ``connection``, inside the caller's transaction;
    for each, what :func:`save_report` returns.

    A re-parse batch saves reports again from the pages they are stored from. Such a save changes nothing in the
    order of its slot's versions (see :func:`save_report`), so for all of them together it is one statement per
    table: their rows, documents and versions are written for the batch at once, instead of some twenty statements
    for each report. Any other report (a first save, a new page, a failed report, a version that no longer matches
    its report) takes :func:`save_report`, in the same transaction. Every slot, then every report row, is locked
    first, in one order, as :func:`save_report` locks them.
    """
    lock_slots(connection, [prepared.slot for prepared, _path in batch])
    ids = [prepared.item.upload_info_id for prepared, _path in batch]
    found: dict[int, Any] = {row.upload_info_id: row
                             for row in connection.execute(_RESAVE_CHECK, {"ids": sorted(set(ids))})}
    again = [(prepared, path) for prepared, path in batch
             if ids.count(prepared.item.upload_info_id) == 1 and _saved_again(prepared, found)]
    _resave(connection, again, now)
    resaved = {prepared.item.upload_info_id for prepared, _path in again}
    return [Saved() if prepared.item.upload_info_id in resaved else save_report(connection, prepared, path, now)
            for prepared, path in batch]


_r, _v = reports.c, report_versions.c
#: Each report of a batch with what decides whether it is a save of its stored page again: its row, locked, and
#: the version of the page it is stored from.
_RESAVE_CHECK = (
    select(_r.upload_info_id, _r.state, _r.stored_at, _r.page_sha256, _r.slot, _r.send_date,
           _v.id.label("version_id"), _v.slot.label("version_slot"), _v.send_date.label("version_send_date"))
    .select_from(reports.outerjoin(report_versions, and_(_v.upload_info_id == _r.upload_info_id,
                                                         _v.page_sha256 == _r.page_sha256)))
    .where(_r.upload_info_id.in_(bindparam("ids", expanding=True)))
    .order_by(_r.upload_info_id)
    .with_for_update(of=reports)
)
#: A version saved again: refreshed in place (what :func:`refresh_current_page` writes once it matched).
_REFRESH_VERSION = (
    update(report_versions)
    .where(_v.upload_info_id == bindparam("saved_id"), _v.page_sha256 == bindparam("saved_sha256"))
    .values(fetched_at=bindparam("saved_at", type_=UTCDateTime()), parser_version=bindparam("saved_parser"))
)


def _saved_again(prepared: Prepared, found: dict[int, Any]) -> bool:
    """The report is stored from this very page, and its version matches its row: what makes
    :func:`save_report` only rewrite its data and refresh its version."""
    row = found.get(prepared.item.upload_info_id)
    return (row is not None and row.state != "failed" and row.stored_at is not None
            and row.page_sha256 == prepared.item.page_sha256 and row.version_id is not None
            and row.version_slot == (row.slot or prepared.slot) and row.version_send_date == row.send_date)


def _resave(connection: Connection, again: Sequence[tuple[Prepared, str]], now: dt.datetime) -> None:
    """Rewrite the data of reports saved again from their stored pages, one statement per table for them all."""
    if not again:
        return
    marks: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for prepared, path in again:
        values = _stored_values(prepared.item, prepared.document, path, now)
        marks.setdefault(tuple(values), []).append(values)
    for rows in marks.values():  # one statement per set of columns (a fetched page also sets its validators)
        connection.execute(_MARK_STORED, rows)
    _upsert_documents(connection, [prepared for prepared, _path in again])
    ids = sorted(prepared.item.upload_info_id for prepared, _path in again)
    for table in NORMALIZED:
        connection.execute(delete(table).where(table.c.upload_info_id.in_(ids)))
        insert_rows(connection, table, [row for prepared, _path in again for row in prepared.rows.get(table, ())])
    connection.execute(_REFRESH_VERSION, [
        {"saved_id": prepared.item.upload_info_id, "saved_sha256": prepared.item.page_sha256, "saved_at": now,
         "saved_parser": prepared.item.parser_version} for prepared, _path in again])


def _lock_report_row(connection: Connection, prepared: Prepared, now: dt.datetime) -> Row[Any]:
    """Lock the report's row, inserting it first when discovery never did; returns what it held before.

    Only a report stored before has normalized rows to replace: a first save (nearly every save) skips the
    deletes, six statements of the transaction. The row lock (PostgreSQL; SQLite's write transactions are
    serial) keeps a concurrent save of the same report from slipping in between this read and the writes.
    """
    locked = select(reports.c.stored_at, reports.c.page_sha256, reports.c.slot, reports.c.send_date).where(
        reports.c.upload_info_id == prepared.item.upload_info_id).with_for_update()
    found = connection.execute(locked).first()
    if found is None:
        _insert_report_row(connection, prepared, now)
        found = connection.execute(locked).one()
    return cast("Row[Any]", found)


def _mark_stored(
    connection: Connection, item: ReportItem, document: ReportDocument, archive_path: str, now: dt.datetime
) -> bool:
    result = connection.execute(_MARK_STORED, _stored_values(item, document, archive_path, now))
    return bool(result.rowcount)


def _stored_values(item: ReportItem, document: ReportDocument, archive_path: str, now: dt.datetime) -> dict[str, Any]:
    """The parameters of :data:`_MARK_STORED` for a saved report."""
    checks = storable(dict(item.checks))
    values = {
        "state": "stored",
        "page_sha256": item.page_sha256,
        "archive_path": storable(archive_path),
        "final_url": storable(item.final_url) or None,
        "parser_version": item.parser_version,
        "period_end": document_date(document["period_end"]),
        **report_facts(document),
        "checks": checks,
        "check_failures": sum(1 for message in checks.values() if message is not None),
        "unknown_sections": storable(list(item.unknown_sections)),
        "section_errors": storable(dict(item.section_errors)),
        "lease_until": None,
        "lease_token": None,
        "lease_owner": None,
        "last_error": None,
        "failure_reason": None,
        "fetched_at": now,
        "verified_at": now,
        "updated_at": now,
    }
    if item.page_etag or item.page_last_modified:
        values.update(page_etag=storable(item.page_etag) or None,
                      page_last_modified=storable(item.page_last_modified) or None)
    return {"saved_id": item.upload_info_id, "saved_at": now, **values}


#: The UPDATE of a saved report's row, built once: its SET columns are the keys of the parameters it is run with.
#: Building it with its twenty values for each report cost more CPU than running it.
_MARK_STORED = (
    update(reports)
    .where(reports.c.upload_info_id == bindparam("saved_id"), reports.c.state != "failed")
    .values(stored_at=func.coalesce(reports.c.stored_at, bindparam("saved_at", type_=UTCDateTime())))
)


def _insert_report_row(connection: Connection, prepared: Prepared, now: dt.datetime) -> None:
    """Insert the report's row when discovery never did (a plain Scrapy crawl, a page parsed by hand)."""
    item, document, listing = prepared.item, prepared.document, prepared.listing
    period_end = document_date(document["period_end"])
    row = {
        "upload_info_id": item.upload_info_id,
        "report_type_code": listing.get("report_type_code")
        or REPORT_TYPES.get(str(document.get("report_kind"))),
        "report_year": listing.get("report_year") or (str(period_end.year) if period_end else None),
        "fund_code": listing.get("fund_code") or document.get("fund_code"),
        "fund_short_name": listing.get("fund_short_name"),
        "organ_name": listing.get("organ_name") or document.get("manager"),
        "report_desp": listing.get("report_desp"),
        "send_date": iso_date(listing.get("send_date") or document.get("send_date")),
        "upload_date": iso_date(listing.get("upload_date")),
        "fund_id": listing.get("fund_id") if isinstance(listing.get("fund_id"), int) else None,
        "slot": prepared.slot,
        "state": "pending",
        "discovered_at": now,
        "updated_at": now,
    }
    statement = (
        insert(connection, reports).values(row).on_conflict_do_nothing(index_elements=["upload_info_id"])
    )
    connection.execute(statement)


def _upsert_documents(connection: Connection, saved: Sequence[Prepared]) -> None:
    """Insert or replace the documents of ``saved`` reports: one statement, however many."""
    rows = [{"upload_info_id": prepared.item.upload_info_id, "schema": prepared.document["schema"],
             "parser_version": prepared.item.parser_version, "document": prepared.document_text}
            for prepared in saved]
    statement = insert(connection, report_documents).values(document=bindparam("document", type_=Text()))
    statement = statement.on_conflict_do_update(
        index_elements=["upload_info_id"],
        set_={key: statement.excluded[key] for key in ("schema", "parser_version", "document")},
    )
    connection.execute(statement, rows)
