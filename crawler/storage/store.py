"""The repository every other module uses: the report state machine, its bookkeeping, and the smaller
repositories hanging off it.

Exactly-once comes from here, not from the broker: discovery gets back only the ids it inserted, so a report
listed by two runs is published once; a task claims its row with a compare-and-set before doing anything, so a
redelivered message finds it leased or terminal; and the attempt counter is committed when a task starts, so a
message that kills its worker every time ends ``failed(poison)`` instead of looping. The statements live in
:mod:`crawler.storage.transitions`, :mod:`~.saving` and :mod:`~.queries`; every public method here is one unit
of work, retried whole on a transient database error.

The rest of the database is reached through the store's repositories, each a few units of work over one
concern: ``store.runs`` (run records of schedule entries and upkeep), ``store.partitions`` and
``store.checkpoints`` (what discovery knows of the site's listing), ``store.jobs`` (backfill jobs),
``store.health`` (failed, late and oddly parsed reports) and ``store.exports`` (snapshots for exports).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.engine import URL

from crawler.exceptions import FAILURE_REASONS
from crawler.models import ExportedDocument, ReportDocument, ReportItem, ReportRef
from crawler.storage import owners, pages, queries, transitions
from crawler.storage.backfill_jobs import BackfillJobs
from crawler.storage.checkpoints import DayCheckpoints
from crawler.storage.documents import DocumentError
from crawler.storage.engine import READ_ONLY, WalState, checkpoint, make_engine, run_unit
from crawler.storage.exports import Exports
from crawler.storage.health import Health
from crawler.storage.partitions import Partitions
from crawler.storage.runs import Runs
from crawler.storage.saving import Prepared, Saved, prepare_report, save_report, save_reports
from crawler.storage.schema import ensure_current
from crawler.storage.tables import reports
from crawler.storage.transitions import Claim, rowcount, scalars
from crawler.storage.types import utcnow

__all__ = ["Claim", "Store"]

log = logging.getLogger(__name__)

T = TypeVar("T")
CHUNK = 500


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Store:
    """All reads and writes of fundcrawl's database."""

    def __init__(
        self,
        engine: Engine,
        *,
        requeue_grace: dt.timedelta = dt.timedelta(minutes=2),
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.requeue_grace = requeue_grace
        self.clock = clock
        self.runs = Runs(self)
        self.partitions = Partitions(self)
        self.checkpoints = DayCheckpoints(self)
        self.jobs = BackfillJobs(self)
        self.health = Health(self)
        self.exports = Exports(self)

    @classmethod
    def from_url(cls, url: str | URL, **options: Any) -> Store:
        """A store on this process's engine for ``url`` (the engine is rebuilt after a fork): the one way to open
        a store without checking its schema (:meth:`open` checks it)."""
        return cls(make_engine(url), **options)

    @classmethod
    def open(cls, url: str | URL, **options: Any) -> Store:
        """A store on ``url`` after checking that its schema is exactly the one this code needs: how every
        command starts. Raises :class:`SchemaError` (naming the fix) for a missing, older or newer schema."""
        store = cls.from_url(url, **options)
        store.ensure_current()
        return store

    # --- the database itself -------------------------------------------------------------------------------
    def ensure_current(self) -> None:
        """Raise :class:`SchemaError` unless the schema is exactly at the head revision (one attempt, so a
        database that is down is one clear error at once)."""
        ensure_current(self.engine)

    @property
    def location(self) -> str:
        """The database's URL with its password hidden, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def close_connections(self) -> None:
        """Close this process's pooled connections to the database; the next use opens new ones."""
        self.engine.dispose()

    def checkpoint_journal(self) -> WalState | None:
        """Shrink the embedded database's write-ahead log (see :func:`crawler.storage.engine.checkpoint`);
        None on PostgreSQL, which manages its own log, or when the checkpoint could not run."""
        return checkpoint(self.engine)

    # --- units of work -------------------------------------------------------------------------------------
    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retried whole on a transient database error."""

        def unit() -> T:
            with self.engine.begin() as connection:
                return work(connection)

        return run_unit(unit)

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """One read-only transaction that sees the database as of its start, however long it is read.

        Exports read every table through one snapshot, so rows stored meanwhile never shift, duplicate or orphan
        what they write: REPEATABLE READ on PostgreSQL (without the daemon's statement timeout, since an export
        reads whole tables), a deferred transaction on SQLite, whose WAL readers keep the snapshot of their
        first read. Not retried: a caller that fails part-way starts over with a new snapshot.
        """
        with self.engine.connect().execution_options(**READ_ONLY) as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SET LOCAL statement_timeout = 0"))
                else:
                    # Take the snapshot now, not at the caller's first query.
                    connection.execute(text("SELECT 1 FROM sqlite_master LIMIT 1"))
                yield connection

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one read-only transaction (no write lock on SQLite)."""

        def unit() -> T:
            with self.engine.connect().execution_options(**READ_ONLY) as connection, connection.begin():
                return work(connection)

        return run_unit(unit)

    # --- discovery -----------------------------------------------------------------------------------------
    def add_discovered(self, refs: Sequence[ReportRef]) -> list[int]:
        """Insert listed reports as ``pending``; return only the ids this call inserted (sorted).

        Rows go in by ascending id, so concurrent discoveries take key locks in one order (no deadlock).
        """
        now = self.clock()
        unique = {ref.upload_info_id: ref for ref in refs}
        rows = [transitions.ref_row(unique[upload_info_id], now) for upload_info_id in sorted(unique)]
        new: list[int] = []
        for chunk in _chunks(rows):
            new.extend(self.write(partial(transitions.insert_new, rows=chunk)))
        return sorted(new)

    def known_ids(self, ids: Iterable[int]) -> set[int]:
        """The subset of ``ids`` already in the database, whatever their state."""
        found: set[int] = set()
        for chunk in _chunks(sorted(set(ids))):
            statement = select(reports.c.upload_info_id).where(reports.c.upload_info_id.in_(chunk))
            found.update(self.read(partial(scalars, statement=statement)))
        return found

    # --- the state machine ---------------------------------------------------------------------------------
    def claim(
        self, upload_info_id: int, *, lease_seconds: float, max_attempts: int, token: str = "",
        owner: str | None = None,
    ) -> Claim | None:
        """Take the report for one execution, or None when it is terminal or leased by another task.

        A report that has already used ``max_attempts`` executions ends ``failed(poison)`` instead. ``token``
        (e.g. the task id) is recorded as the lease owner: the same token may claim its own lease again, and
        :meth:`release` with a token only releases its own.
        """
        now = self.clock()
        lease_until = now + dt.timedelta(seconds=lease_seconds)
        work = partial(
            transitions.claim,
            upload_info_id=upload_info_id,
            now=now,
            lease_until=lease_until,
            max_attempts=max_attempts,
            token=token,
            owner=owners.this_process() if owner is None else owner,
        )
        return self.write(work)

    def release(self, upload_info_id: int, *, error: str, retry_at: dt.datetime, token: str = "",
                refund: bool = False, republish: bool = False) -> bool:
        """Give a report back after a transient failure; the reconciler leaves it alone until ``retry_at``
        (and then publishes it again itself when ``republish``: no retry message was sent).

        ``refund``: the execution does not count against ``max_attempts`` (the machine failed, not the report).
        """
        statement = transitions.release(
            upload_info_id, error=error, retry_at=retry_at, token=token, now=self.clock(), refund=refund,
            republish=republish,
        )
        return bool(self.write(partial(rowcount, statement=statement)))

    def release_dead_owners(self) -> int:
        """Release the reports whose lease is held by a process of this machine that no longer exists (killed,
        crashed, machine restarted); they become pending and the reconciler republishes them on its next pass.
        Owners on other machines are left to their lease's clock."""
        held = self.read(lambda connection: list(connection.execute(transitions.leases_owned_on(owners.host()))))
        dead: dict[str, list[int]] = {}
        for upload_info_id, owner in held:
            if owners.is_gone(owner):
                dead.setdefault(owner, []).append(int(upload_info_id))
        released = 0
        now = self.clock()
        for owner, ids in dead.items():
            for chunk in _chunks(ids):
                released += int(self.write(partial(rowcount, statement=transitions.release_owner(chunk, owner, now))))
        if released:
            log.info("released %d report(s) held by %d process(es) of this machine that no longer exist",
                     released, len(dead))
        return released

    def pull_back_future_times(self, *, longest_hold_seconds: float) -> int:
        """Undo what a wall clock stepped back left behind: leases and retry times further ahead than
        ``longest_hold_seconds`` (more than the daemon ever sets) end that far from now, and publish times in the
        future become now. Without it a report leased just before a step back of hours waits hours. Returns how
        many rows changed."""
        now = self.clock()
        latest = now + dt.timedelta(seconds=longest_hold_seconds)
        leases = int(self.write(partial(rowcount, statement=transitions.pull_back_leases(now, latest))))
        enqueued = int(self.write(partial(rowcount, statement=transitions.pull_back_enqueued(now))))
        if leases or enqueued:
            log.warning("the clock stepped back: %d lease(s) or retry time(s) further ahead than %.0fs now end "
                        "then, %d publish time(s) in the future are now", leases, longest_hold_seconds, enqueued)
        return leases + enqueued

    def mark_failed(self, upload_info_id: int, *, reason: str, error: str) -> bool:
        """End a report ``failed`` with ``reason`` (from FAILURE_REASONS); a stored report is never failed."""
        if reason not in FAILURE_REASONS:
            raise ValueError(f"unknown failure reason {reason!r}; expected one of {sorted(FAILURE_REASONS)}")
        statement = transitions.fail(upload_info_id, reason=reason, error=error, now=self.clock())
        changed = bool(self.write(partial(rowcount, statement=statement)))
        if changed:
            log.info("report %s failed: %s", upload_info_id, reason)
        return changed

    def mark_enqueued(self, ids: Iterable[int]) -> None:
        """Record that a task was just sent for each of ``ids`` (the reconciler waits a grace period)."""
        now = self.clock()
        for chunk in _chunks(sorted(set(ids))):
            self.write(partial(rowcount, statement=transitions.enqueued(chunk, now)))

    def requeue_candidates(
        self, *, now: dt.datetime | None = None, limit: int = 1000, enqueued_before: dt.datetime | None = None
    ) -> list[int]:
        """Non-terminal reports nobody owns and nobody enqueued recently: the reconciler's work list.

        "Recently" is the store's ``requeue_grace`` before ``now`` unless ``enqueued_before`` says otherwise.
        """
        now = now or self.clock()
        cutoff = enqueued_before if enqueued_before is not None else now - self.requeue_grace
        return self.read(partial(scalars, statement=transitions.requeue_candidates(now, cutoff, limit)))

    def save_report(self, item: ReportItem, archive_path: str) -> Saved | None:
        """Store a parsed report in one transaction; None (nothing written) when the report is ``failed``.

        The result says whether this save changed the current version of the report's slot (a correction).
        """
        prepared = prepare_report(item)  # pure: before the transaction, so it holds no lock
        return self.write(partial(save_report, prepared=prepared, archive_path=archive_path, now=self.clock()))

    def save_reports(self, items: Sequence[tuple[ReportItem, str]]) -> list[Saved | None | DocumentError]:
        """Store parsed reports (each with its archive path) in one transaction; for each, what
        :meth:`save_report` returns, or the :class:`DocumentError` that kept it from being saved.

        One transaction, and one statement per table for the reports saved again from their stored pages (a
        re-parse batch): it stores all of them or none.
        """
        results: list[Saved | None | DocumentError] = []
        batch: list[tuple[Prepared, str]] = []
        for item, archive_path in items:
            try:
                batch.append((prepare_report(item), archive_path))
                results.append(None)
            except DocumentError as error:
                results.append(error)
        if batch:
            saved = iter(self.write(partial(save_reports, batch=batch, now=self.clock())))
            results = [result if isinstance(result, DocumentError) else next(saved) for result in results]
        return results

    def reset_failed(self, ids: Iterable[int]) -> int:
        """Put failed reports back to ``pending`` with a fresh attempt budget (replay); returns how many."""
        now = self.clock()
        return sum(
            self.write(partial(rowcount, statement=transitions.reset(chunk, now)))
            for chunk in _chunks(sorted(set(ids)))
        )

    # --- reads ---------------------------------------------------------------------------------------------
    def listing(self, upload_info_id: int) -> dict[str, Any] | None:
        """The listing fields of the report (ReportRef's keys, ISO dates), as the checks expect them."""
        return self.read(partial(queries.listing, upload_info_id=upload_info_id))

    def already_stored(self, item: ReportItem) -> bool:
        """True when the report is stored from ``item``'s page bytes by its parser version with the same result
        (document, checks, parse flags): storing it again would change nothing. One read; the stored document
        is read only when the key matches (a first save never reads one)."""
        return self.read(partial(queries.already_stored, item=item))

    def already_stored_many(self, items: Sequence[ReportItem]) -> list[bool]:
        """:meth:`already_stored` for each of ``items``, in one read."""
        return self.read(partial(queries.already_stored_many, items=items))

    def state(self, upload_info_id: int) -> dict[str, Any] | None:
        """The state-machine columns of one report (state, attempts, lease, reason, last error, ...)."""
        return self.read(partial(queries.state, upload_info_id=upload_info_id))

    def attempts(self, upload_info_id: int) -> int | None:
        """Executions used so far; None for an unknown report."""
        row = self.state(upload_info_id)
        return None if row is None else int(row["attempts"])

    def counts(self) -> dict[str, int]:
        """``{"total", "stored", "failed", "pending"}``; pending includes reports being fetched."""
        return self.read(queries.counts)

    def pending_count(self) -> int:
        """Reports not yet stored or failed (those being fetched included): an index range over those alone."""
        return self.read(queries.pending_count)

    def recent_failures(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.read(partial(queries.recent_failures, limit=limit))

    def oldest_pending(self) -> dict[str, Any] | None:
        return self.read(queries.oldest_pending)

    def failed_ids(self, reason: str | None = None) -> list[int]:
        return self.read(partial(queries.failed_ids, reason=reason))

    def stored_for_reparse(self, parser_version: str, all_: bool = False) -> list[tuple[int, str]]:
        """``(upload_info_id, page_sha256)`` of stored reports parsed by another version (or all)."""
        return self.read(partial(queries.stored_for_reparse, parser_version=parser_version, all_=all_))

    def referenced_pages(self) -> set[str]:
        """The sha256 of every page a report points at: pass it to ``Archive.sweep_orphans``."""
        return self.read(queries.referenced_pages)

    def versions(self, upload_info_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Every stored version (report, page sha256) with its slot, current flag and what superseded it."""
        ids = None if upload_info_ids is None else sorted(set(upload_info_ids))
        return self.read(partial(queries.versions, upload_info_ids=ids))

    def corrections(self) -> dict[str, int]:
        """``{"same_id", "new_id"}``: superseded versions seen, by kind of correction."""
        return self.read(queries.corrections)

    def reverify_candidates(self, type_codes: Iterable[str], years: Iterable[str], sent_since: dt.date | None
                            ) -> list[dict[str, Any]]:
        """Current stored reports of these partitions with their page validators and when they were checked."""
        return self.read(partial(queries.reverify_candidates, type_codes=list(type_codes), years=list(years),
                                 sent_since=sent_since))

    def mark_verified(self, upload_info_id: int, *, etag: str = "", last_modified: str = "") -> None:
        """Record that the report's page was re-checked now and had not changed (with its validators, if sent)."""
        values: dict[str, Any] = {"verified_at": self.clock()}
        if etag or last_modified:
            values.update(page_etag=etag or None, page_last_modified=last_modified or None)
        statement = update(reports).where(reports.c.upload_info_id == upload_info_id).values(**values)
        self.write(partial(rowcount, statement=statement))

    def document(self, upload_info_id: int) -> ReportDocument | None:
        return self.read(partial(queries.document, upload_info_id=upload_info_id))

    def iter_documents(
        self,
        *,
        fund_codes: Iterable[str] | None = None,
        report_types: Iterable[str] | None = None,
        period_from: dt.date | None = None,
        period_to: dt.date | None = None,
        batch_size: int = 200,
        all_versions: bool = False,
    ) -> Iterator[tuple[int, ExportedDocument]]:
        """Every stored report's document, in id order, fetched ``batch_size`` at a time (constant memory), all
        from one snapshot (see :meth:`snapshot`).

        Only the current version of each slot, unless ``all_versions``: then every version, keyed by version id.
        Each document carries ``upload_info_id``, ``page_sha256``, ``is_current`` and ``superseded_by``.
        """
        filters = queries.document_filters(fund_codes, report_types, period_from, period_to,
                                           current_only=not all_versions)
        with self.snapshot() as connection:
            yield from queries.iter_documents(connection, filters, batch_size, all_versions)


    # --- the page archive (compression and checks in crawler.archive) ------------------------------------------
    def page_exists(self, sha256: str) -> bool:
        return self.read(partial(pages.page_exists, sha256=sha256))

    def stored_pages(self, hashes: Sequence[str]) -> dict[str, pages.StoredPage]:
        """The stored pages among ``hashes``, by sha256, in one read."""
        return self.read(partial(pages.pages_of, hashes=hashes)) if hashes else {}

    def insert_page(self, stored: pages.StoredPage) -> bool:
        """Insert a compressed page once; True when this call inserted it."""
        return self.write(partial(pages.insert_page, stored=stored, now=self.clock()))

    def current_reference(self, kind: str) -> pages.Reference | None:
        return self.read(partial(pages.current_reference, kind=kind))

    def page_reference(self, reference_id: int) -> pages.Reference | None:
        return self.read(partial(pages.reference, reference_id=reference_id))

    def add_reference(self, kind: str, generation: int, sha256: str, size: int, content: bytes) -> pages.Reference:
        """Generation ``generation`` of ``kind``'s reference: this page, or the one another process added first."""
        return self.write(partial(pages.add_reference, kind=kind, generation=generation, sha256=sha256, size=size,
                                  content=content, now=self.clock()))

    def page_hashes(self, hashes: Iterable[str]) -> set[str]:
        """The subset of ``hashes`` already archived."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(hashes))):
            found |= self.read(partial(pages.page_hashes, hashes=chunk))
        return found

    def page_kinds(self, hashes: Iterable[str]) -> dict[str, str]:
        """sha256 -> report type code of a report stored from that page."""
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(set(hashes))):
            found.update(self.read(partial(pages.report_kinds, hashes=chunk)))
        return found

    def archive_totals(self) -> dict[str, int]:
        return self.read(pages.archive_totals)

    # --- re-parse runs -------------------------------------------------------------------------------------
    def start_reparse(self, parser_version: str, all_reports: bool) -> tuple[int, bool]:
        """``(run id, resumed)``: the interrupted run of this version and scope, or a new one with its work list."""

        def work(connection: Connection) -> tuple[int, bool]:
            found = pages.open_reparse_run(connection, parser_version, all_reports)
            if found is not None and pages.pending_items(connection, found):
                return found, True
            if found is not None:  # done, but nobody waited for it to say so
                pages.finish_run(connection, found, self.clock())
            todo = queries.stored_for_reparse(connection, parser_version, all_reports)
            ids = [upload_info_id for upload_info_id, _sha in todo]
            return pages.create_reparse_run(connection, parser_version, all_reports, ids, self.clock()), False

        return self.write(work)

    def reparse_pending(self, run_id: int) -> list[int]:
        return self.read(partial(pages.pending_items, run_id=run_id))

    def reparse_work(self, run_id: int, ids: Sequence[int]) -> list[pages.ReparseWork]:
        """Which of ``ids`` are still pending in the run, each with its report's page and listing."""
        return self.read(partial(pages.pending_work, run_id=run_id, ids=ids))

    def finish_reparse_items(self, run_id: int, outcomes: Sequence[tuple[int, str, str | None]]) -> None:
        """Record ``(id, outcome, error)`` of items of a run, each once (a redelivered batch changes nothing)."""
        self.write(partial(pages.finish_items, run_id=run_id, outcomes=outcomes, now=self.clock()))

    def reparse_progress(self, run_id: int) -> dict[str, int]:
        return self.read(partial(pages.run_progress, run_id=run_id))

    def reparse_last_done(self, run_id: int) -> dt.datetime | None:
        """When an item of the run was last re-parsed, by any process of the fleet; None before the first."""
        return self.read(partial(pages.last_item_done, run_id=run_id))

    def reparse_runs(self, limit: int = 3) -> list[dict[str, Any]]:
        """The latest re-parse runs, newest first, each with its items by state (see ``fundcrawl status``)."""
        return self.read(partial(pages.recent_runs, limit=limit))

    def reparse_failures(self, run_id: int, limit: int = 20) -> list[tuple[int, str]]:
        return self.read(partial(pages.failed_items, run_id=run_id, limit=limit))

    def finish_reparse(self, run_id: int) -> None:
        self.write(partial(pages.finish_run, run_id=run_id, now=self.clock()))

