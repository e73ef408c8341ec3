"""``fundcrawl run --once``: one discovery pass, processed by a real worker process, then a summary."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from subprocess import Popen

import click

from crawler import flow
from crawler.cli.daemon import _celery_args, start_worker_process, stop_process
from crawler.cli.progress import Progress
from crawler.schedules import load_schedules
from crawler.settings import Settings
from crawler.storage import operations

log = logging.getLogger(__name__)

MAX_WORKER_RESTARTS = 3


def run_once(s: Settings, schedule: str | None, extra: Sequence[str]) -> int:
    """Returns the exit code: 0 all stored, 1 some reports failed for good."""
    from crawler.tasks import publish_reports

    schedules = load_schedules(s.schedules)
    names = [schedule] if schedule else [name for name, entry in schedules.entries.items() if entry.enabled]
    if schedule:
        schedules.get(schedule)
    started = dt.datetime.now(dt.UTC)
    rt = flow.runtime(s)
    worker = start_worker_process(_celery_args(s, extra))
    listed = new = 0
    try:
        for name in names:
            result = flow.run_schedule_entry(rt, name, publish_reports, kind="once")
            listed, new = listed + result["listed"], new + result["new"]
            click.echo(f"{name}: {result['listed']} listed, {result['new']} new, "
                       f"{len(result['incomplete'])} incomplete partition(s)", err=True)
    except BaseException:
        stop_process(worker)
        raise
    process_pending(rt, s, started, extra, worker)
    return _summary(rt, started, listed, new)


def process_pending(rt: flow.Runtime, s: Settings, since: dt.datetime, extra: Sequence[str] = (),
                    worker: Popen[bytes] | None = None) -> None:
    """Process every pending report with a local worker process; what was published before ``since`` (the
    leftovers of an interrupted run) is published again, what this command published is not."""
    from crawler.tasks import publish_reports

    worker = worker or start_worker_process(_celery_args(s, extra))
    try:
        grace = (dt.datetime.now(dt.UTC) - since).total_seconds()
        flow.requeue_stuck(rt, publish_reports, queue_depth=0, grace_seconds=grace)
        worker = _drain(rt, s, worker, extra, publish_reports)
    finally:
        stop_process(worker)


def _drain(rt: flow.Runtime, s: Settings, worker: Popen[bytes], extra: Sequence[str], publish: flow.Enqueue
           ) -> Popen[bytes]:
    """Wait until no report is pending; keep the worker alive and the reconciler running meanwhile."""
    pending = rt.store.counts()["pending"]
    restarts, last_reconcile = 0, time.monotonic()
    with Progress("processing", pending) as progress:
        while pending:
            time.sleep(0.5)
            if worker.poll() is not None:
                if restarts >= MAX_WORKER_RESTARTS:
                    raise click.ClickException(f"the worker exited with code {worker.returncode} {restarts} times")
                log.warning("worker exited with code %s; starting a new one", worker.returncode)
                restarts += 1
                worker = start_worker_process(_celery_args(s, extra))
            if time.monotonic() - last_reconcile >= s.reconcile_every:
                flow.requeue_stuck(rt, publish, queue_depth=None)
                flow.keep_journal_small(rt)
                last_reconcile = time.monotonic()
            now_pending = rt.store.counts()["pending"]
            total = max(progress.total, now_pending)
            progress.update(total - now_pending, total)
            pending = now_pending
    return worker


def _summary(rt: flow.Runtime, started: dt.datetime, listed: int, new: int) -> int:
    counts = rt.store.counts()
    failures = operations.failures_since(rt.store.engine, started)
    click.echo(f"listed {listed}, new {new}; database now holds {counts['stored']} stored, "
               f"{counts['failed']} failed, {counts['pending']} pending report(s)")
    for failure in failures:
        click.echo(f"  failed {failure['upload_info_id']} ({failure['fund_code']}): "
                   f"{failure['failure_reason']}: {failure['last_error']}")
    return 1 if failures else 0
