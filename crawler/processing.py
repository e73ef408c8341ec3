"""One report, from claim to state: claim -> fetch -> archive -> parse -> item pipelines -> stored/failed/retry.

Exactly-once comes from the database, not from the broker: discovery inserts report rows first and publishes ids
second (the row is the outbox); a report task claims its row with a compare-and-set before it does anything, so a
duplicate or redelivered message is a no-op; the reconciler (:mod:`crawler.upkeep`) republishes rows whose lease ran
out. Re-parsing a stored report from the archive and storing a re-checked page go through the same parse-and-store
step.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from crawler.archive import ArchivedPage, ArchiveError, FileArchive, PageArchive, relative_path
from crawler.exceptions import (
    CircuitOpenError,
    DatabaseLockedError,
    OutOfSpaceError,
    ParseError,
    PermanentError,
    RateLimitedError,
    StorageUnavailableError,
    TransientError,
)
from crawler.models import FetchedPage, ReportItem
from crawler.parsing import parse_report
from crawler.settings import Settings
from crawler.sources.backoff import full_jitter
from crawler.sources.eid import EidClient
from crawler.storage import ReparseWork, Store
from crawler.telemetry import alerts, metrics
from pipelines.runner import Outcome, PipelineRunner

log = logging.getLogger(__name__)

#: The first retry of a report waits up to this many seconds; each further retry doubles it.
RETRY_BASE_SECONDS = 5.0
#: Seconds between two looks at a full disk (plus jitter) by a report given back for a retry.
OUT_OF_SPACE_RECHECK = 10.0
#: Seconds between two looks at a full disk by a task that holds its downloaded page, and the share of the soft
#: time limit it may spend waiting (what remains is for parsing and storing once space is back).
SPACE_RECHECK_IN_TASK = 2.0
SPACE_WAIT_SHARE = 0.8
T = TypeVar("T")
ReportState = Literal["stored", "already_stored", "failed", "skipped"]
#: A re-parse item's outcome for each state of its report after re-parsing (anything else is ``failed``).
REPARSE_OUTCOMES = {"stored": "updated", "already_stored": "unchanged"}
#: Reports re-parsed by one task (or one step of ``reparse --here``): the per-task cost of Celery, of the batch's
#: reads and of its one transaction is shared by the batch, and a batch is still about a second of work. Measured
#: through the workers (bench/archive.py, 780 reports): 10 -> 40 cut the worker's CPU per report by 0.8-2.5 ms and
#: PostgreSQL's by 0.5.
REPARSE_BATCH = 40


@dataclass
class Runtime:
    """Per-process collaborators, built lazily after fork (sockets are never shared across processes).

    The site client (with its rate limiter and circuit breaker) is built on first use: re-parsing from the
    archive never touches the network, so a process that only re-parses never builds one.
    """

    settings: Settings
    store: Store
    archive: PageArchive
    runner: PipelineRunner
    _client: EidClient | None = field(default=None, repr=False)

    @property
    def client(self) -> EidClient:
        if self._client is None:
            self._client = EidClient.from_settings(self.settings, on_breaker_open=alerts.breaker_opened)
        return self._client

    def close(self) -> None:
        self.runner.close()
        if self._client is not None:
            self._client.close()


_runtimes: dict[int, Runtime] = {}


def runtime(settings: Settings, *, space_wait: float = 0.0) -> Runtime:
    """The collaborators of this process, created on first use.

    Opening them opens the database; on a full disk that waits for space for up to ``space_wait`` seconds,
    saying so, before :class:`OutOfSpaceError` (transient) reaches the caller.
    """
    current = _runtimes.get(os.getpid())
    if current is None or current.settings is not settings:
        wait_until = time.monotonic() + space_wait
        current = _waiting_for_space("this worker process, opening the database,", wait_until,
                                     lambda: _new_runtime(settings))
        _runtimes.clear()
        _runtimes[os.getpid()] = current
    return current


def _new_runtime(settings: Settings) -> Runtime:
    store = Store.from_url(settings.database)
    runner = PipelineRunner.from_settings(settings)
    return Runtime(settings=settings, store=store, archive=PageArchive(store, legacy=FileArchive(settings.archive_dir)),
                   runner=runner)


def process_report(rt: Runtime, upload_info_id: int, *, token: str = "") -> ReportState:
    """Fetch, archive, parse and store one report; transient errors propagate for the task to retry."""
    claim = rt.store.claim(upload_info_id, lease_seconds=rt.settings.lease_seconds,
                           max_attempts=rt.settings.max_attempts, token=token)
    if claim is None:
        log.info("report %s skipped: already terminal or leased elsewhere", upload_info_id)
        return "skipped"
    try:
        return _fetch_and_store(rt, upload_info_id, claim.listing)
    except PermanentError as error:
        fail_report(rt, upload_info_id, error.reason, str(error), claim.listing)
        return "failed"


def _fetch_and_store(rt: Runtime, upload_info_id: int, listing: dict[str, Any]) -> ReportState:
    wait_until = time.monotonic() + SPACE_WAIT_SHARE * rt.settings.task_soft_time_limit
    page = rt.client.fetch_report(upload_info_id)
    kind = str(listing.get("report_type_code") or "")
    who = f"report {upload_info_id}, its page in hand,"
    archived = _waiting_for_space(who, wait_until, lambda: rt.archive.save(page.body, kind=kind))
    state, reason = _waiting_for_space(who, wait_until, lambda: _parse_and_store(
        rt, upload_info_id, page.body, archived, page.final_url, listing, (page.etag, page.last_modified)))
    if state == "failed":
        fail_report(rt, upload_info_id, "dropped", reason, listing, archived.sha256)
    return state


def _waiting_for_space(who: str, wait_until: float, step: Callable[[], T]) -> T:
    """Run ``step``; while the disk is full, wait for space with the page in hand, up to ``wait_until``.

    Waiting here rather than giving the report back keeps the task's lease and its broker message: on the
    embedded default the broker shares the full disk, so a retry could not even be published, and the report
    would wait out its lease once space is back. A full disk that outlasts the task's time budget still ends in
    an ordinary retry (:class:`OutOfSpaceError` is transient and not counted against the report).
    """
    while True:
        try:
            return step()
        except OutOfSpaceError as error:
            if time.monotonic() + SPACE_RECHECK_IN_TASK > wait_until:
                raise
            log.warning("waiting: %s; %s looks again in %.0fs", error, who, SPACE_RECHECK_IN_TASK)
            time.sleep(SPACE_RECHECK_IN_TASK)


def _parse_and_store(rt: Runtime, upload_info_id: int, body: bytes, archived: ArchivedPage, final_url: str,
                     listing: dict[str, Any], validators: tuple[str, str] = ("", "")) -> tuple[ReportState, str]:
    """Parse a page and run the item pipelines; ParseError propagates (a permanent failure)."""
    item = _parsed_item(upload_info_id, body, archived, final_url, listing, validators)
    return _state_of(rt.runner.run(item), item)


def _parsed_item(upload_info_id: int, body: bytes, archived: ArchivedPage, final_url: str, listing: dict[str, Any],
                 validators: tuple[str, str] = ("", "")) -> ReportItem:
    """The page parsed, as the item the pipelines take; ParseError propagates."""
    with metrics.parse_timer():
        parsed = parse_report(body)
    return ReportItem(
        upload_info_id=upload_info_id, document=parsed.document, parser_version=parsed.parser_version,
        page_sha256=archived.sha256, final_url=final_url, archive_path=archived.relative, listing=listing,
        unknown_sections=parsed.unknown_sections, section_errors=parsed.section_errors,
        page_etag=validators[0], page_last_modified=validators[1],
    )


def _state_of(outcome: Outcome, item: ReportItem) -> tuple[ReportState, str]:
    """What the pipelines' outcome means for the report (counted, logged, a correction reported)."""
    if outcome.dropped:
        return "failed", outcome.reason
    if outcome.already_stored:
        return "already_stored", ""
    metrics.count_stored()
    log.info("report %s stored (fund %s, sha256 %s)", item.upload_info_id, item.listing.get("fund_code"),
             item.page_sha256[:12])
    correction = getattr(outcome.item, "correction", None)
    if correction:
        report_corrected(correction, item.listing)
    return "stored", ""


def report_corrected(correction: dict[str, Any], listing: dict[str, Any]) -> None:
    """Log a correction (its slot's current version changed) and send it to Sentry as a grouped info event."""
    log.info("correction (%s) in slot %s: report %s page %s superseded by report %s page %s", correction["kind"],
             correction["slot"], correction["superseded_id"], str(correction["superseded_sha256"])[:12],
             correction["current_id"], str(correction["current_sha256"])[:12])
    alerts.report_corrected(correction, fund_code=str(listing.get("fund_code") or ""),
                                   report_type=str(listing.get("report_type_code") or ""))


def reparse_items(rt: Runtime, run_id: int, ids: Sequence[int]) -> dict[int, str]:
    """Items of a re-parse run, each once: ``{id: "updated" | "unchanged" | "failed"}`` for those still pending.

    A duplicate or redelivered batch finds its items done and does nothing. The batch's pending items and their
    reports are read in one query, their pages parsed, and what changed stored in one transaction
    (:meth:`pipelines.runner.PipelineRunner.run_many`), so a batch stores all its reports or none; the outcomes
    are then recorded in one more. A page that cannot be read or parsed is that item's failure, recorded even
    when the batch's store fails; the other items then stay pending for the redelivered batch.
    """
    outcomes: list[tuple[int, str, str | None]] = []
    items: list[ReportItem] = []
    try:
        work = []
        for each in rt.store.reparse_work(run_id, ids):
            if each.page_sha256:
                work.append(each)
            else:
                outcomes.append((each.upload_info_id, "failed", "not a stored report"))
        bodies = rt.archive.read_many([(each.page_sha256, each.upload_info_id) for each in work])
        for each, body in zip(work, bodies, strict=True):  # one page's bytes at a time
            item, reason = _reparsed_item(each, body)
            if item is None:
                outcomes.append((each.upload_info_id, "failed", reason))
            else:
                items.append(item)
        for item, outcome in zip(items, rt.runner.run_many(items), strict=True):
            state, reason = _state_of(outcome, item)
            if state == "failed":
                log.warning("report %s re-parse dropped by the pipelines: %s", item.upload_info_id, reason)
            outcomes.append((item.upload_info_id, REPARSE_OUTCOMES.get(state, "failed"), reason or None))
    finally:
        if outcomes:  # a redelivered batch, or a database that failed before any item, has nothing to record
            rt.store.finish_reparse_items(run_id, outcomes)
    return {upload_info_id: outcome for upload_info_id, outcome, _reason in outcomes}


def _reparsed_item(work: ReparseWork, body: bytes | ArchiveError) -> tuple[ReportItem | None, str]:
    """A stored report's archived page parsed again with this parser (no network), or why it could not be.

    The page is the one the report pointed at when its batch started. A failure leaves the stored data as it
    was and says why, naming the report.
    """
    if isinstance(body, ArchiveError):
        problem: Exception = body
    else:
        archived = ArchivedPage(work.page_sha256, relative_path(work.page_sha256))
        try:
            return _parsed_item(work.upload_info_id, body, archived, work.final_url, work.listing), ""
        except ParseError as error:
            problem = error
    log.warning("report %s could not be re-parsed: %s", work.upload_info_id, problem)
    return None, str(problem)


def store_rechecked_page(rt: Runtime, upload_info_id: int, page: FetchedPage) -> ReportState:
    """Store a stored report's changed page as a new version; a page that fails to parse keeps the old one."""
    listing = rt.store.listing(upload_info_id) or {}
    archived = rt.archive.save(page.body, kind=str(listing.get("report_type_code") or ""))
    try:
        state, reason = _parse_and_store(rt, upload_info_id, page.body, archived, page.final_url, listing,
                                         (page.etag, page.last_modified))
    except ParseError as error:
        log.warning("report %s: its changed page could not be parsed (%s); the stored version stays", upload_info_id,
                    error)
        return "failed"
    if state == "failed":
        log.warning("report %s: its changed page was dropped by the pipelines: %s", upload_info_id, reason)
    return state


def fail_report(rt: Runtime, upload_info_id: int, reason: str, error: str, listing: dict[str, Any] | None,
                page_sha256: str | None = None) -> None:
    """Mark a report failed for good, count it and alert once (never on a retry)."""
    if not rt.store.mark_failed(upload_info_id, reason=reason, error=error):
        return  # already terminal (a parallel execution got there first): it was counted and alerted then
    metrics.count_failed(reason)
    log.warning("report %s failed (%s): %s", upload_info_id, reason, error)
    listing = listing or {}
    alerts.report_failed(upload_info_id, reason, fund_code=listing.get("fund_code", ""),
                                report_type=listing.get("report_type_code", ""), page_sha256=page_sha256 or "",
                                error=error)


def retry_delay(error: TransientError, retries: int, settings: Settings) -> float:
    """Seconds before the next attempt: exponential backoff with full jitter; the site's Retry-After wins."""
    backoff = full_jitter(retries, base=RETRY_BASE_SECONDS, cap=settings.retry_backoff_max)
    if isinstance(error, RateLimitedError) and error.retry_after:
        return min(settings.retry_backoff_max, error.retry_after + backoff / 10)
    if isinstance(error, CircuitOpenError):
        return min(settings.retry_backoff_max, error.reopen_in + random.uniform(0, 5))
    if isinstance(error, OutOfSpaceError):
        # Look again soon and at a steady pace: once space is freed, the work should resume within seconds,
        # not after a backoff that grew for as long as the disk was full.
        return min(settings.retry_backoff_max, OUT_OF_SPACE_RECHECK + random.uniform(0, 5))
    return max(1.0, backoff)


def postpone_report(rt: Runtime, upload_info_id: int, error: TransientError, countdown: float,
                    token: str = "", *, by_reconciler: bool = False) -> bool:
    """Record a transient failure; returns False when the report has used all its attempts (it is then failed).

    When the database itself is down the failure cannot be recorded: the task retries anyway and its retry
    (same task id, so same lease token) re-claims the row it still holds. A database outage never fails a report.
    """
    try:
        return _record_retry(rt, upload_info_id, error, countdown, token, by_reconciler)
    except StorageUnavailableError as db_error:
        log.warning("report %s: retry not recorded (%s); the retry re-claims its own lease", upload_info_id,
                    db_error)
        return True


def _record_retry(rt: Runtime, upload_info_id: int, error: TransientError, countdown: float, token: str,
                  by_reconciler: bool) -> bool:
    attempts = rt.store.attempts(upload_info_id)
    exhausted = attempts is not None and attempts >= rt.settings.max_attempts
    if exhausted and not isinstance(error, StorageUnavailableError):
        fail_report(rt, upload_info_id, "retries_exhausted", f"{type(error).__name__}: {error}",
                    rt.store.listing(upload_info_id))
        return False
    # A retry message arrives after ``countdown``: the lease keeps the reconciler off it for 30 s more.
    retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=countdown + (0 if by_reconciler else 30))
    local = isinstance(error, OutOfSpaceError | DatabaseLockedError)
    rt.store.release(upload_info_id, error=f"{type(error).__name__}: {error}", retry_at=retry_at, token=token,
                     refund=local, republish=by_reconciler)
    if local:
        # The machine, not the site or the page, is in the way: say what the daemon waits for.
        log.warning("waiting: %s; report %s looks again in %.0fs", error, upload_info_id, countdown)
    else:
        log.info("report %s will retry in %.0fs: %s", upload_info_id, countdown, error)
    return True
