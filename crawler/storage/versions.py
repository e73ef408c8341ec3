"""Report versions: every page stored for a report slot, and which one is current.

A slot is what a user means by "the report": fund code, report type and period (report year); fund profiles have
no period, so their slot is fund code and type. Managers correct published reports, either by publishing a new
``uploadInfoId`` for the same slot or by replacing the page behind the old id. Each (upload_info_id, page sha256)
is one version; exactly one version per slot is current: the latest send date, then the newest upload_info_id,
then the page fetched last. Partial unique indexes (``WHERE is_current``) on ``reports`` and ``report_versions``
make a second current version impossible, whatever the writers do.

Every function here runs inside the caller's transaction. :func:`lock_slot` serializes the writers of one slot on
PostgreSQL (SQLite's write transactions are serial already), so two saves of one slot (a correction racing its
original, a redelivered task, a reverification) settle the slot one after the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, or_, select, text, true, update

from crawler.models import REPORT_TYPES, ReportDocument
from crawler.storage.tables import report_documents, report_versions, reports
from crawler.storage.upsert import insert

#: Kinds of correction: a new page behind the same uploadInfoId, or a new uploadInfoId for the slot.
SAME_ID = "same_id"
NEW_ID = "new_id"


def slot_key(fund_code: Any, report_type_code: Any, report_year: Any, upload_info_id: int) -> str:
    """The slot of a report: ``fund|type|year``, ``fund|type`` for fund profiles (type codes ``FA...``).

    A report missing its fund code or type is a slot of its own (``id:N``): it never supersedes anything.
    """
    fund, code = str(fund_code or ""), str(report_type_code or "")
    if not fund or not code:
        return f"id:{upload_info_id}"
    if code.startswith("FA"):
        return f"{fund}|{code}"
    return f"{fund}|{code}|{report_year or ''}"


def slot_of_item(upload_info_id: int, listing: Mapping[str, Any], document: ReportDocument) -> str:
    """The slot of a report being saved: its listing row's facts, else the parsed document's."""
    period_end = document.get("period_end") or ""
    code = listing.get("report_type_code") or REPORT_TYPES.get(document.get("report_kind") or "")
    year = listing.get("report_year") or (period_end[:4] if period_end else "")
    return slot_key(listing.get("fund_code") or document.get("fund_code"), code, year, upload_info_id)


@dataclass(frozen=True)
class Correction:
    """A slot's current version changed to a newer one (or a late page arrived already superseded)."""

    kind: str
    slot: str
    current_id: int
    current_sha256: str
    superseded_id: int
    superseded_sha256: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lock_slot(connection: Connection, slot: str) -> None:
    """Take the slot's transaction-scoped advisory lock (PostgreSQL); a no-op on SQLite (one writer at a time).

    Always taken before the report row's lock, in every writer, so two writers never wait on each other in a cycle.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(slot))))


def lock_slots(connection: Connection, slots: Sequence[str]) -> None:
    """:func:`lock_slot` for several slots, in one order (sorted), so that two writers of overlapping sets of
    slots never wait on each other in a cycle; one statement."""
    if connection.dialect.name == "postgresql":
        ordered = sorted(set(slots))
        if ordered:
            # Volatile functions of the select list run after the ORDER BY: the locks are taken in slot order.
            connection.execute(_LOCK_SLOTS, {"slots": ordered})


_LOCK_SLOTS = text("SELECT pg_advisory_xact_lock(hashtext(slot)) "
                   "FROM unnest(CAST(:slots AS text[])) WITH ORDINALITY AS t(slot, n) ORDER BY n")


def keep_replaced_document(connection: Connection, upload_info_id: int, previous_sha256: str) -> None:
    """Before a new page of the same report overwrites it, keep the old page's document with its version."""
    document = connection.execute(
        select(report_documents.c.document).where(report_documents.c.upload_info_id == upload_info_id)
    ).scalar()
    connection.execute(
        update(report_versions)
        .where(report_versions.c.upload_info_id == upload_info_id,
               report_versions.c.page_sha256 == previous_sha256, report_versions.c.document.is_(None))
        .values(document=document)
    )


def record_version(connection: Connection, *, upload_info_id: int, page_sha256: str, slot: str,
                   send_date: dt.date | None, parser_version: str, now: dt.datetime) -> bool:
    """Insert the (report, page) version, or mark it fetched again; True when it is new."""
    values = {"upload_info_id": upload_info_id, "page_sha256": page_sha256, "slot": slot, "send_date": send_date,
              "parser_version": parser_version, "first_fetched_at": now, "fetched_at": now, "is_current": False}
    inserted = insert(connection, report_versions).values(values).on_conflict_do_nothing(
        index_elements=["upload_info_id", "page_sha256"]).returning(report_versions.c.id)
    if connection.execute(inserted).first() is not None:
        return True
    # The same bytes again: a redelivered task, a re-parse of the report's latest page (already its newest fetch),
    # or a page that went back to an earlier text, which is then the report's newest page again.
    connection.execute(
        update(report_versions)
        .where(report_versions.c.upload_info_id == upload_info_id, report_versions.c.page_sha256 == page_sha256)
        .values(fetched_at=now, parser_version=parser_version, slot=slot, send_date=send_date)
    )
    return False


def refresh_current_page(connection: Connection, *, upload_info_id: int, page_sha256: str, slot: str,
                         send_date: dt.date | None, parser_version: str, now: dt.datetime) -> bool:
    """The report's stored page saved again (a re-parse, a redelivered task): refresh its version in place.

    True when the version is there with the same slot and send date. Then nothing that orders the slot's
    versions changed (this page is already the report's newest fetch, and stays so), so the slot's current version
    stays as settled and the caller skips settling it. False (nothing written) sends the caller the long way.
    """
    v = report_versions.c
    refreshed = connection.execute(
        update(report_versions)
        .where(v.upload_info_id == upload_info_id, v.page_sha256 == page_sha256, v.slot == slot,
               v.send_date.is_not_distinct_from(send_date))
        .values(fetched_at=now, parser_version=parser_version)
    )
    return bool(refreshed.rowcount)


def settle_slot(connection: Connection, slot: str, now: dt.datetime, *, saved: tuple[int, str],
                saved_is_new: bool) -> Correction | None:
    """Make the slot's newest version current and record what superseded the others.

    Returns the correction this save revealed: the current version changed, or the saved page is a new version
    that is already superseded (an original stored after its correction). None when nothing changed.
    """
    v = report_versions.c
    rows = connection.execute(
        select(v.id, v.upload_info_id, v.page_sha256, v.send_date, v.fetched_at, v.is_current).where(v.slot == slot)
    ).all()
    if not rows:
        return None
    winner = max(rows, key=lambda r: (r.send_date or dt.date.min, r.upload_info_id, r.fetched_at, r.id))
    previous = next((r for r in rows if r.is_current), None)
    superseded = {"superseded_by_upload_info_id": winner.upload_info_id,
                  "superseded_by_sha256": winner.page_sha256, "superseded_at": now}
    if previous is None or previous.id != winner.id:
        # Clear first, then set: the partial unique index is checked per statement.
        connection.execute(update(report_versions).where(v.slot == slot, v.is_current == true())
                           .values(is_current=False, **superseded))
        connection.execute(update(report_versions).where(v.id == winner.id).values(
            is_current=True, superseded_by_upload_info_id=None, superseded_by_sha256=None, superseded_at=None))
    # Versions that were never current (stored after the version that supersedes them) say what superseded them.
    connection.execute(update(report_versions).where(
        v.slot == slot, v.id != winner.id, v.superseded_by_upload_info_id.is_(None)).values(**superseded))
    _settle_reports(connection, slot, {r.upload_info_id for r in rows}, winner.upload_info_id, now)
    return _correction(slot, rows, winner, previous, saved, saved_is_new)


def _settle_reports(connection: Connection, slot: str, ids: set[int], winner_id: int, now: dt.datetime) -> None:
    r = reports.c
    connection.execute(
        update(reports)
        .where(r.upload_info_id.in_(sorted(ids - {winner_id})), or_(r.is_current.is_(None), r.is_current == true()))
        .values(is_current=False, superseded_by=winner_id, superseded_at=now)
    )
    connection.execute(update(reports).where(r.upload_info_id == winner_id).values(
        is_current=True, superseded_by=None, superseded_at=None, slot=slot))


def _correction(slot: str, rows: Any, winner: Any, previous: Any, saved: tuple[int, str],
                saved_is_new: bool) -> Correction | None:
    if previous is not None and previous.id != winner.id:
        old = previous
    elif saved_is_new and (winner.upload_info_id, winner.page_sha256) != saved:
        old = next(r for r in rows if (r.upload_info_id, r.page_sha256) == saved)
    else:
        return None
    kind = SAME_ID if old.upload_info_id == winner.upload_info_id else NEW_ID
    return Correction(kind, slot, winner.upload_info_id, winner.page_sha256, old.upload_info_id, old.page_sha256)
