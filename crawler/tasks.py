"""Thin Celery tasks with stable names. Each one calls into ``crawler.processing``, ``crawler.discovery.runs`` or
``crawler.upkeep``; only ids cross the broker."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from celery import Task
from kombu.exceptions import ChannelError, KombuError

from crawler import processing, upkeep
from crawler.celery_app import (
    DISCOVER_TASK,
    DISCOVERY_QUEUE,
    LEGACY_PROCESS_REPORT_TASK,
    PROCESS_REPORT_TASK,
    RECONCILE_TASK,
    REPARSE_QUEUE,
    REPARSE_TASK,
    REPORTS_QUEUE,
    app,
)
from crawler.discovery import runs
from crawler.exceptions import StorageUnavailableError, TransientError
from crawler.settings import get_settings

log = logging.getLogger(__name__)


def publish_reports(ids: list[int]) -> None:
    """Send one report task per report id to the reports queue."""
    with app.producer_or_acquire() as producer:
        for upload_info_id in ids:
            process_report.apply_async((upload_info_id,), queue=REPORTS_QUEUE, producer=producer)


@app.task(bind=True, name=PROCESS_REPORT_TASK, max_retries=None, acks_late=True)
def process_report(self: Task, upload_info_id: int) -> str:
    """Download, archive, parse and store one report; transient failures retry with backoff."""
    return _process_report(self, int(upload_info_id))


@app.task(bind=True, name=LEGACY_PROCESS_REPORT_TASK, max_retries=None, acks_late=True)
def fetch_report(self: Task, upload_info_id: int) -> str:
    """The report task under its former name: messages queued before an upgrade still run (and retry under it)."""
    return _process_report(self, int(upload_info_id))


def _process_report(task: Task, upload_info_id: int) -> str:
    settings = get_settings()
    try:
        rt = processing.runtime(settings, space_wait=processing.SPACE_WAIT_SHARE * settings.task_soft_time_limit)
    except TransientError as error:
        # Nothing is claimed yet: the message comes back later (and if it is lost, the row is still pending).
        raise task.retry(exc=error, countdown=processing.retry_delay(error, task.request.retries, settings)) from error
    token = task.request.id or ""
    try:
        return processing.process_report(rt, upload_info_id, token=token)
    except TransientError as error:
        countdown = processing.retry_delay(error, task.request.retries, settings)
        if settings.embedded and not isinstance(error, StorageUnavailableError):
            # The embedded broker's consumers would hold a retry message in memory until its countdown, and it
            # dies with a killed process. The row is the retry instead: the reconciler republishes it once the
            # countdown has passed.
            postponed = processing.postpone_report(rt, upload_info_id, error, countdown, token, by_reconciler=True)
            return "postponed" if postponed else "failed"
        if not processing.postpone_report(rt, upload_info_id, error, countdown, token):
            return "failed"
        raise task.retry(exc=error, countdown=countdown) from error


@app.task(bind=True, name=REPARSE_TASK, max_retries=None, acks_late=True)
def reparse(self: Task, run_id: int, upload_info_ids: int | list[int]) -> dict[str, int]:
    """Re-parse a batch of reports of a re-parse run from the archive (no network); a database outage retries.

    ``upload_info_ids`` is a list; a single id is a message queued before batches existed. Returns the count of
    each outcome.
    """
    settings = get_settings()
    ids = [int(upload_info_ids)] if isinstance(upload_info_ids, int) else [int(i) for i in upload_info_ids]
    try:
        outcomes = processing.reparse_items(processing.runtime(settings), int(run_id), ids)
    except TransientError as error:
        countdown = processing.retry_delay(error, self.request.retries, settings)
        raise self.retry(exc=error, countdown=countdown) from error
    return dict(Counter(outcomes.values()))


def publish_reparse(run_id: int, ids: list[int]) -> None:
    """Send the reports of a run to the reparse queue, ``processing.REPARSE_BATCH`` to a task."""
    with app.producer_or_acquire() as producer:
        for start in range(0, len(ids), processing.REPARSE_BATCH):
            reparse.apply_async((run_id, ids[start:start + processing.REPARSE_BATCH]), queue=REPARSE_QUEUE, producer=producer)


@app.task(name=DISCOVER_TASK, acks_late=True)
def discover(schedule: str, kind: str = "scheduled") -> dict[str, Any]:
    """Run one schedule entry (discover or reconcile) and publish every new report."""
    return runs.run_schedule_entry(processing.runtime(get_settings()), schedule, publish_reports, kind=kind)


@app.task(name=RECONCILE_TASK, acks_late=True)
def reconcile() -> int:
    """Republish reports whose lease expired or whose message was lost; once an hour, alerts and upkeep."""
    return upkeep.reconcile(processing.runtime(get_settings()), publish_reports, queue_depth=queue_depth(REPORTS_QUEUE))


def queue_depth(queue: str) -> int | None:
    """Messages waiting in a queue, or None when the broker cannot tell."""
    try:
        with app.connection_for_read() as connection:
            return int(connection.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except (KombuError, ChannelError, OSError):
        # Unknown depth only makes the reconciler wait its default grace.
        log.debug("could not read the depth of queue %s", queue, exc_info=True)
        return None


def send_discovery(schedule: str, kind: str = "manual") -> None:
    """Ask a running fleet to run one schedule entry now."""
    discover.apply_async((schedule, kind), queue=DISCOVERY_QUEUE)
