"""The repository every other module uses: the report state machine and its bookkeeping.

States: ``pending -> fetching -> stored | failed`` (reliability.md I2). Each transition is a compare-and-set
``UPDATE ... WHERE state = ...`` so that two workers handed the same report cannot both own it, and the
attempt counter is committed when a task starts (I5) so a message loop ends in ``failed(poison)``.
Exactly-once comes from here, not from the broker: discovery gets back only the ids it inserted (I3), and a
task re-reads the row before doing anything (I4).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.engine import URL
from sqlalchemy.sql import Executable

from crawler.exceptions import FAILURE_REASONS
from crawler.models import ReportItem, ReportRef
from crawler.storage import queries
from crawler.storage.documents import storable
from crawler.storage.engine import READ_ONLY, make_engine, run_unit
from crawler.storage.saving import save_report
from crawler.storage.tables import ACTIVE_STATES, reports
from crawler.storage.types import utcnow
from crawler.storage.upsert import insert

log = logging.getLogger(__name__)

T = TypeVar("T")
CHUNK = 500
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Claim:
    """A report a task now owns until ``lease_until``; ``attempt`` counts executions, this one included.

    ``listing`` is the report's listing row (see :meth:`Store.listing`), read in the claiming transaction.
    """

    upload_info_id: int
    attempt: int
    lease_until: dt.datetime
    listing: dict[str, Any] = field(default_factory=dict)
    token: str = ""


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _error_text(error: str) -> str:
    return storable(error)[:MAX_ERROR_CHARS]


class Store:
    """All reads and writes of fundcrawl's database. Each public method is one retried unit of work."""

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

    @classmethod
    def from_url(cls, url: str | URL, **options: Any) -> Store:
        """A store on this process's engine for ``url``."""
        return cls(make_engine(url), **options)

    # --- units of work -------------------------------------------------------------------------------------
    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retried whole on a transient database error."""

        def unit() -> T:
            with self.engine.begin() as connection:
                return work(connection)

        return run_unit(unit)

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one read-only transaction (no write lock on SQLite)."""

        def unit() -> T:
            with self.engine.connect().execution_options(**READ_ONLY) as connection, connection.begin():
                return work(connection)

        return run_unit(unit)

    # --- discovery -----------------------------------------------------------------------------------------
    def add_discovered(self, refs: Sequence[ReportRef]) -> list[int]:
        """Insert listed reports as ``pending``; return only the ids this call inserted (sorted).

        ``enqueued_at`` starts at the insert time: the caller enqueues right after, and the reconciler only
        steps in once the grace period has passed.
        """
        now = self.clock()
        unique = {ref.upload_info_id: ref for ref in refs}
        # Ascending ids: concurrent discoveries take the key locks in one order and cannot deadlock.
        rows = [_ref_row(unique[upload_info_id], now) for upload_info_id in sorted(unique)]
        new: list[int] = []
        for chunk in _chunks(rows):
            new.extend(self.write(partial(_insert_new, rows=chunk)))
        return sorted(new)

    def known_ids(self, ids: Iterable[int]) -> set[int]:
        """The subset of ``ids`` already in the database, whatever their state."""
        wanted = sorted(set(ids))
        found: set[int] = set()
        for chunk in _chunks(wanted):
            statement = select(reports.c.upload_info_id).where(reports.c.upload_info_id.in_(chunk))
            found.update(self.read(partial(_scalars, statement=statement)))
        return found

    # --- the state machine ---------------------------------------------------------------------------------
    def claim(
        self, upload_info_id: int, *, lease_seconds: float, max_attempts: int, token: str = ""
    ) -> Claim | None:
        """Take the report for one execution, or None when it is terminal or leased by another task.

        A report that has already used ``max_attempts`` executions ends ``failed(poison)`` instead. ``token``
        (e.g. the task id) is recorded as the lease owner; :meth:`release` with a token only releases its own.
        A lease still held by the same ``token`` can be claimed again: a Celery retry keeps its task id, and when
        the database was down the failed attempt could not release its lease (it would otherwise wait it out).
        """
        now = self.clock()
        lease_until = now + dt.timedelta(seconds=lease_seconds)
        reclaim = [reports.c.lease_token == token] if token else []
        claimable = and_(
            reports.c.upload_info_id == upload_info_id,
            or_(
                reports.c.state == "pending",
                and_(
                    reports.c.state == "fetching",
                    or_(reports.c.lease_until.is_(None), reports.c.lease_until <= now, *reclaim),
                ),
            ),
        )

        def work(connection: Connection) -> Claim | None:
            taken = connection.execute(
                update(reports)
                .where(claimable, reports.c.attempts < max_attempts)
                .values(
                    state="fetching",
                    attempts=reports.c.attempts + 1,
                    lease_until=lease_until,
                    lease_token=token or None,
                    updated_at=now,
                )
                .returning(reports.c.attempts)
            ).first()
            if taken is not None:
                listing = queries.listing(connection, upload_info_id) or {}
                return Claim(upload_info_id, taken.attempts, lease_until, listing, token)
            poisoned = connection.execute(
                update(reports)
                .where(claimable, reports.c.attempts >= max_attempts)
                .values(
                    state="failed",
                    failure_reason="poison",
                    last_error=f"gave up after {max_attempts} executions",
                    lease_until=None,
                    lease_token=None,
                    updated_at=now,
                )
            )
            if poisoned.rowcount:
                log.warning("report %s failed: poison after %d executions", upload_info_id, max_attempts)
            return None

        return self.write(work)

    def release(self, upload_info_id: int, *, error: str, retry_at: dt.datetime, token: str = "") -> bool:
        """Give a report back after a transient failure; the reconciler leaves it alone until ``retry_at``.

        With a ``token``, only the lease that token claimed is released: a task whose lease expired and was
        taken over cannot release the new owner's claim.
        """
        owner = [reports.c.lease_token == token] if token else []
        statement = (
            update(reports)
            .where(reports.c.upload_info_id == upload_info_id, reports.c.state == "fetching", *owner)
            .values(
                state="pending",
                lease_until=retry_at,
                lease_token=None,
                last_error=_error_text(error),
                updated_at=self.clock(),
            )
        )
        return bool(self.write(partial(_rowcount, statement=statement)))

    def mark_failed(self, upload_info_id: int, *, reason: str, error: str) -> bool:
        """End a report ``failed`` with ``reason`` (from FAILURE_REASONS); a stored report is never failed."""
        if reason not in FAILURE_REASONS:
            raise ValueError(f"unknown failure reason {reason!r}; expected one of {sorted(FAILURE_REASONS)}")
        statement = (
            update(reports)
            .where(reports.c.upload_info_id == upload_info_id, reports.c.state != "stored")
            .values(
                state="failed",
                failure_reason=reason,
                last_error=_error_text(error),
                lease_until=None,
                lease_token=None,
                updated_at=self.clock(),
            )
        )
        changed = bool(self.write(partial(_rowcount, statement=statement)))
        if changed:
            log.info("report %s failed: %s", upload_info_id, reason)
        return changed

    def mark_enqueued(self, ids: Iterable[int]) -> None:
        """Record that a task was just sent for each of ``ids`` (the reconciler waits a grace period)."""
        now = self.clock()
        for chunk in _chunks(sorted(set(ids))):
            statement = (
                update(reports)
                .where(reports.c.upload_info_id.in_(chunk), reports.c.state.in_(ACTIVE_STATES))
                .values(enqueued_at=now)
            )
            self.write(partial(_rowcount, statement=statement))

    def requeue_candidates(
        self, *, now: dt.datetime | None = None, limit: int = 1000, enqueued_before: dt.datetime | None = None
    ) -> list[int]:
        """Non-terminal reports nobody owns and nobody enqueued recently: the reconciler's work list.

        "Recently" is the store's ``requeue_grace`` before ``now`` unless ``enqueued_before`` says otherwise.
        """
        now = now or self.clock()
        cutoff = enqueued_before if enqueued_before is not None else now - self.requeue_grace
        statement = (
            select(reports.c.upload_info_id)
            .where(
                reports.c.state.in_(ACTIVE_STATES),
                or_(reports.c.lease_until.is_(None), reports.c.lease_until <= now),
                or_(reports.c.enqueued_at.is_(None), reports.c.enqueued_at <= cutoff),
            )
            .order_by(reports.c.enqueued_at, reports.c.upload_info_id)
            .limit(limit)
        )
        return self.read(partial(_scalars, statement=statement))

    def save_report(self, item: ReportItem, archive_path: str) -> bool:
        """Store a parsed report in one transaction; False (nothing written) when the report is ``failed``."""
        now = self.clock()
        return self.write(lambda connection: save_report(connection, item, archive_path, now))

    def reset_failed(self, ids: Iterable[int]) -> int:
        """Put failed reports back to ``pending`` with a fresh attempt budget (replay); returns how many."""
        now = self.clock()
        total = 0
        for chunk in _chunks(sorted(set(ids))):
            statement = (
                update(reports)
                .where(reports.c.upload_info_id.in_(chunk), reports.c.state == "failed")
                .values(
                    state="pending",
                    attempts=0,
                    failure_reason=None,
                    lease_until=None,
                    lease_token=None,
                    enqueued_at=now,
                    updated_at=now,
                )
            )
            total += self.write(partial(_rowcount, statement=statement))
        return total

    # --- reads ---------------------------------------------------------------------------------------------
    def listing(self, upload_info_id: int) -> dict[str, Any] | None:
        return self.read(lambda connection: queries.listing(connection, upload_info_id))

    def is_stored(self, upload_info_id: int, page_sha256: str, parser_version: str) -> bool:
        return self.read(lambda c: queries.is_stored(c, upload_info_id, page_sha256, parser_version))

    def state(self, upload_info_id: int) -> dict[str, Any] | None:
        """The state-machine columns of one report (state, attempts, lease, reason, last error, ...)."""
        return self.read(lambda connection: queries.state(connection, upload_info_id))

    def attempts(self, upload_info_id: int) -> int | None:
        """Executions used so far; None for an unknown report."""
        row = self.state(upload_info_id)
        return None if row is None else int(row["attempts"])

    def counts(self) -> dict[str, int]:
        return self.read(queries.counts)

    def recent_failures(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.read(lambda connection: queries.recent_failures(connection, limit))

    def oldest_pending(self) -> dict[str, Any] | None:
        return self.read(queries.oldest_pending)

    def failed_ids(self, reason: str | None = None) -> list[int]:
        return self.read(lambda connection: queries.failed_ids(connection, reason))

    def stored_for_reparse(self, parser_version: str, all_: bool = False) -> list[tuple[int, str]]:
        return self.read(lambda connection: queries.stored_for_reparse(connection, parser_version, all_))

    def document(self, upload_info_id: int) -> dict[str, Any] | None:
        return self.read(lambda connection: queries.document(connection, upload_info_id))

    def iter_documents(
        self,
        *,
        fund_codes: Iterable[str] | None = None,
        report_types: Iterable[str] | None = None,
        period_from: dt.date | None = None,
        period_to: dt.date | None = None,
        batch_size: int = 200,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every stored report's document, in id order, fetched ``batch_size`` at a time (constant memory)."""
        filters = queries.document_filters(fund_codes, report_types, period_from, period_to)
        after = 0
        while True:
            page = partial(queries.documents_after, filters=filters, after=after, limit=batch_size)
            batch = self.read(page)
            yield from batch
            if len(batch) < batch_size:
                return
            after = batch[-1][0]


def make_store(url: str | URL, **options: Any) -> Store:
    """A :class:`Store` on this process's engine for ``url`` (the engine is rebuilt after a fork)."""
    return Store.from_url(url, **options)


def _ref_row(ref: ReportRef, now: dt.datetime) -> dict[str, Any]:
    return {
        "upload_info_id": ref.upload_info_id,
        "report_type_code": ref.report_type_code,
        "report_year": ref.report_year,
        "fund_code": storable(ref.fund_code),
        "fund_short_name": storable(ref.fund_short_name),
        "organ_name": storable(ref.organ_name),
        "report_desp": storable(ref.report_desp),
        "send_date": ref.send_date,
        "upload_date": ref.upload_date,
        "fund_id": ref.fund_id,
        "state": "pending",
        "attempts": 0,
        "check_failures": 0,
        "discovered_at": now,
        "enqueued_at": now,
        "updated_at": now,
    }


def _rowcount(connection: Connection, statement: Executable) -> int:
    return int(connection.execute(statement).rowcount)  # type: ignore[attr-defined]


def _scalars(connection: Connection, statement: Executable) -> list[Any]:
    return list(connection.scalars(statement))


def _insert_new(connection: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    statement = (
        insert(connection, reports)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["upload_info_id"])
        .returning(reports.c.upload_info_id)
    )
    return list(connection.scalars(statement))
