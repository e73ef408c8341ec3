"""SQL of the page archive (``pages``, ``page_references``) and of re-parse runs (``reparse_runs``/``_items``).

Compression and the sha256 check live in :mod:`crawler.archive`; these functions only move rows. Each takes the
caller's connection, so :class:`crawler.storage.store.Store` runs it as one unit of work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from crawler.storage.queries import LISTING, listing_of
from crawler.storage.tables import (
    REPARSE_STATES,
    page_references,
    pages,
    reparse_items,
    reparse_runs,
    reports,
)
from crawler.storage.upsert import insert


@dataclass(frozen=True)
class StoredPage:
    """One ``pages`` row: the compressed body and what is needed to decompress it."""

    sha256: str
    size: int
    codec: str
    reference_id: int | None
    body: bytes


@dataclass(frozen=True)
class Reference:
    """One ``page_references`` row; ``content`` is the reference page zstd-compressed on its own."""

    id: int
    kind: str
    generation: int
    sha256: str
    size: int
    content: bytes


def page_exists(connection: Connection, sha256: str) -> bool:
    return connection.execute(select(pages.c.sha256).where(pages.c.sha256 == sha256)).first() is not None


def pages_of(connection: Connection, hashes: Sequence[str]) -> dict[str, StoredPage]:
    """The stored pages among ``hashes``, by sha256 (one query)."""
    columns = (pages.c.sha256, pages.c.size, pages.c.codec, pages.c.reference_id, pages.c.body)
    rows = connection.execute(select(*columns).where(pages.c.sha256.in_(sorted(set(hashes)))))
    return {row.sha256: StoredPage(row.sha256, int(row.size), row.codec, row.reference_id, bytes(row.body))
            for row in rows}


def insert_page(connection: Connection, stored: StoredPage, now: dt.datetime) -> bool:
    """Insert a page once; True when this call inserted it (content-addressed: a second insert is a no-op)."""
    values = {"sha256": stored.sha256, "size": stored.size, "codec": stored.codec,
              "reference_id": stored.reference_id, "body": stored.body, "stored_at": now}
    statement = insert(connection, pages).values(values).on_conflict_do_nothing(index_elements=["sha256"])
    return bool(connection.execute(statement).rowcount)


def current_reference(connection: Connection, kind: str) -> Reference | None:
    """The newest reference of ``kind`` (a newer one is added when the site's template drifts)."""
    row = connection.execute(
        select(page_references).where(page_references.c.kind == kind)
        .order_by(page_references.c.generation.desc()).limit(1)
    ).first()
    return None if row is None else _reference(row)


def reference(connection: Connection, reference_id: int) -> Reference | None:
    row = connection.execute(select(page_references).where(page_references.c.id == reference_id)).first()
    return None if row is None else _reference(row)


def add_reference(connection: Connection, kind: str, generation: int, sha256: str, size: int, content: bytes,
                  now: dt.datetime) -> Reference:
    """Add generation ``generation`` of ``kind``'s reference; if another process added it first, that one wins."""
    values = {"kind": kind, "generation": generation, "sha256": sha256, "size": size, "content": content,
              "created_at": now}
    statement = insert(connection, page_references).values(values).on_conflict_do_nothing(
        index_elements=["kind", "generation"])
    connection.execute(statement)
    row = connection.execute(select(page_references).where(page_references.c.kind == kind,
                                                           page_references.c.generation == generation)).one()
    return _reference(row)


def _reference(row: Any) -> Reference:
    return Reference(int(row.id), row.kind, int(row.generation), row.sha256, int(row.size), bytes(row.content))


def page_hashes(connection: Connection, hashes: Sequence[str]) -> set[str]:
    """The subset of ``hashes`` stored as pages."""
    return set(connection.scalars(select(pages.c.sha256).where(pages.c.sha256.in_(list(hashes)))))


def report_kinds(connection: Connection, hashes: Sequence[str]) -> dict[str, str]:
    """sha256 -> report type code of a report stored from that page (what a migrated page is compressed as)."""
    statement = select(reports.c.page_sha256, reports.c.report_type_code).where(
        reports.c.page_sha256.in_(list(hashes)))
    return {str(sha): str(code or "") for sha, code in connection.execute(statement)}


def archive_totals(connection: Connection) -> dict[str, int]:
    """Pages, their raw bytes and the compressed bytes of pages and references."""
    row = connection.execute(select(func.count(), func.coalesce(func.sum(pages.c.size), 0),
                                    func.coalesce(func.sum(func.length(pages.c.body)), 0))).one()
    refs = connection.execute(select(func.count(), func.coalesce(func.sum(func.length(page_references.c.content)),
                                                                 0))).one()
    return {"pages": int(row[0]), "raw_bytes": int(row[1]), "page_bytes": int(row[2]),
            "references": int(refs[0]), "reference_bytes": int(refs[1])}


# --- re-parse runs -------------------------------------------------------------------------------------------
def open_reparse_run(connection: Connection, parser_version: str, all_reports: bool) -> int | None:
    """The unfinished run for this parser version and scope (a previous command was interrupted), if any."""
    statement = select(reparse_runs.c.id).where(
        reparse_runs.c.parser_version == parser_version, reparse_runs.c.all_reports == all_reports,
        reparse_runs.c.finished_at.is_(None)).order_by(reparse_runs.c.id.desc()).limit(1)
    found = connection.execute(statement).scalar()
    return None if found is None else int(found)


def create_reparse_run(connection: Connection, parser_version: str, all_reports: bool, ids: Sequence[int],
                       now: dt.datetime) -> int:
    statement = reparse_runs.insert().values(parser_version=parser_version, all_reports=all_reports,
                                             total=len(ids), created_at=now)
    run_id = int(connection.execute(statement.returning(reparse_runs.c.id)).scalar_one())
    for start in range(0, len(ids), 1000):
        rows = [{"run_id": run_id, "upload_info_id": upload_info_id, "state": "pending"}
                for upload_info_id in ids[start:start + 1000]]
        connection.execute(reparse_items.insert(), rows)
    return run_id


def pending_items(connection: Connection, run_id: int) -> list[int]:
    statement = select(reparse_items.c.upload_info_id).where(
        reparse_items.c.run_id == run_id, reparse_items.c.state == "pending").order_by(reparse_items.c.upload_info_id)
    return [int(upload_info_id) for upload_info_id in connection.scalars(statement)]


@dataclass(frozen=True)
class ReparseWork:
    """A pending item of a re-parse run and what re-parsing it needs: its report's page and listing.

    ``page_sha256`` is empty when the report is no longer stored (nothing to re-parse).
    """

    upload_info_id: int
    page_sha256: str
    final_url: str
    listing: dict[str, Any]


def pending_work(connection: Connection, run_id: int, ids: Sequence[int]) -> list[ReparseWork]:
    """The items of ``ids`` still pending in the run, by id, with their reports (one query for a whole batch)."""
    statement = select(reparse_items.c.upload_info_id.label("item_id"), reports.c.state, reports.c.page_sha256,
                       reports.c.final_url, *LISTING).select_from(
        reparse_items.outerjoin(reports, reports.c.upload_info_id == reparse_items.c.upload_info_id)).where(
        reparse_items.c.run_id == run_id, reparse_items.c.state == "pending",
        reparse_items.c.upload_info_id.in_(sorted(set(ids)))).order_by(reparse_items.c.upload_info_id)
    return [ReparseWork(int(row.item_id), str(row.page_sha256 or "") if row.state == "stored" else "",
                        str(row.final_url or ""), listing_of(row) if row.state is not None else {})
            for row in connection.execute(statement)]


def finish_items(connection: Connection, run_id: int, outcomes: Sequence[tuple[int, str, str | None]],
                 now: dt.datetime) -> None:
    """Record each item's ``(id, outcome, error)`` once: only a ``pending`` item changes (a duplicate message
    changes nothing). One round trip on PostgreSQL (its engine batches an ``executemany``, and so gives no count
    of the rows it changed)."""
    if not outcomes:
        return
    statement = update(reparse_items).where(
        reparse_items.c.run_id == run_id, reparse_items.c.upload_info_id == bindparam("item"),
        reparse_items.c.state == "pending").values(state=bindparam("outcome"), error=bindparam("why"), updated_at=now)
    rows = [{"item": upload_info_id, "outcome": outcome, "why": error} for upload_info_id, outcome, error in outcomes]
    connection.execute(statement, rows)


def last_item_done(connection: Connection, run_id: int) -> dt.datetime | None:
    """When an item of the run was last re-parsed (by any process); None before the first."""
    return connection.execute(select(func.max(reparse_items.c.updated_at)).where(
        reparse_items.c.run_id == run_id)).scalar()


def run_progress(connection: Connection, run_id: int) -> dict[str, int]:
    """Items of a run by state, plus ``total``."""
    statement = select(reparse_items.c.state, func.count()).where(reparse_items.c.run_id == run_id).group_by(
        reparse_items.c.state)
    counts = {state: 0 for state in ("pending", "updated", "unchanged", "failed")}
    counts.update({str(state): int(n) for state, n in connection.execute(statement)})
    counts["total"] = sum(counts.values())
    return counts


def recent_runs(connection: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest re-parse runs, newest first: scope, times, and their items by state plus ``total``."""
    runs = connection.execute(select(reparse_runs).order_by(reparse_runs.c.id.desc()).limit(limit)).mappings().all()
    if not runs:
        return []
    counts: dict[int, dict[str, int]] = {int(run["id"]): dict.fromkeys(REPARSE_STATES, 0) for run in runs}
    statement = select(reparse_items.c.run_id, reparse_items.c.state, func.count()).where(
        reparse_items.c.run_id.in_(list(counts))).group_by(reparse_items.c.run_id, reparse_items.c.state)
    for run_id, state, number in connection.execute(statement):
        counts[int(run_id)][str(state)] = int(number)
    return [{"id": int(run["id"]), "parser_version": run["parser_version"], "all_reports": bool(run["all_reports"]),
             "created_at": run["created_at"], "finished_at": run["finished_at"], **counts[int(run["id"])],
             "total": sum(counts[int(run["id"])].values())} for run in runs]


def failed_items(connection: Connection, run_id: int, limit: int = 20) -> list[tuple[int, str]]:
    statement = select(reparse_items.c.upload_info_id, reparse_items.c.error).where(
        reparse_items.c.run_id == run_id, reparse_items.c.state == "failed").order_by(
        reparse_items.c.upload_info_id).limit(limit)
    return [(int(upload_info_id), str(error or "")) for upload_info_id, error in connection.execute(statement)]


def finish_run(connection: Connection, run_id: int, now: dt.datetime) -> None:
    connection.execute(update(reparse_runs).where(reparse_runs.c.id == run_id, reparse_runs.c.finished_at.is_(None))
                       .values(finished_at=now))
