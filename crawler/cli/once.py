"""``fundcrawl run --once``: one discovery pass, processed by a real worker process, then a summary."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import subprocess
import time
from collections.abc import Sequence
from subprocess import Popen
from typing import TYPE_CHECKING

import click

from crawler.cli import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, fail
from crawler.cli.daemon import (
    Stop,
    _celery_args,
    fork_worker_process,
    start_worker_process,
    stop_on_signals,
    stop_process,
)
from crawler.cli.progress import Progress, relay
from crawler.cli.supervisor import ForkedChild, can_fork
from crawler.exceptions import TransientError
from crawler.schedules import load_schedules
from crawler.settings import Settings

if TYPE_CHECKING:
    from crawler.discovery.runs import Enqueue
    from crawler.processing import Runtime

log = logging.getLogger(__name__)

MAX_WORKER_RESTARTS = 3
#: Seconds between two looks at what is left to do; the command ends at most this long after the last report.
DRAIN_POLL_SECONDS = 0.2

#: The local worker: forked from the command at its start, a new process when it is restarted.
Worker = Popen[bytes] | ForkedChild


class WorkerOptions:
    """How the local worker child is started: its Celery options, banner and log level."""

    def __init__(self, s: Settings, extra: Sequence[str] = (), *, verbose: bool = False,
                 log_level: str | None = None) -> None:
        self.args = _celery_args(s, extra)
        self.verbose = verbose
        # The command's own progress and summary are what a user reads; the worker speaks up only for problems.
        self.log_level = log_level or ("INFO" if verbose else "WARNING")

    def start(self, *, fork: bool = False) -> Worker:
        """Start the worker, its output relayed above the progress bar. ``fork``: fork it from this process when
        that is safe (before this process has a second thread), rather than start a new interpreter."""
        worker: Worker
        if fork and can_fork():
            worker = fork_worker_process(self.args, verbose=self.verbose, log_level=self.log_level)
        else:
            worker = start_worker_process(self.args, verbose=self.verbose, log_level=self.log_level,
                                          stdout=subprocess.PIPE)
        assert worker.stdout is not None
        relay(worker.stdout)
        return worker


def _require_broker(s: Settings) -> None:
    from crawler.celery_app import probe_broker

    try:
        probe_broker(s)
    except Exception as error:  # noqa: BLE001 - kombu raises its transport's own errors
        target = "FUNDCRAWL_BROKER_URL" if not s.embedded else f"the embedded broker in {s.data_dir}"
        fail(f"the broker cannot be reached ({type(error).__name__}: {error}); start it or fix {target}",
             EXIT_UNREACHABLE)


def run_once(s: Settings, schedule: str | None, extra: Sequence[str], *, verbose: bool = False,
             log_level: str | None = None) -> int:
    """Returns the exit code: 0 all stored, 1 some reports failed for good, 3 some partition or service could
    not be reached, 128 + signal number when interrupted."""
    schedules = load_schedules(s.schedules)
    if schedule:
        schedules.get(schedule)
    names = [schedule] if schedule else [name for name, entry in schedules.entries.items() if entry.enabled]
    _require_broker(s)
    started = dt.datetime.now(dt.UTC)
    options = WorkerOptions(s, extra, verbose=verbose, log_level=log_level)
    stop_on_signals()
    worker: Worker | None = None
    try:
        # First, while this process has one thread: the worker, forked with the consumers' code loaded, starts
        # its consumers at once.
        worker = options.start(fork=True)
        return _discover_and_process(s, names, started, options, worker)
    except Stop as stop:
        return _interrupted(stop)
    finally:
        if worker is not None:
            stop_process(worker)


def _discover_and_process(s: Settings, names: Sequence[str], started: dt.datetime, options: WorkerOptions,
                          worker: Worker) -> int:
    from crawler.discovery.runs import run_schedule_entry
    from crawler.processing import runtime
    from crawler.tasks import publish_reports
    from crawler.telemetry.alerts import flush_sentry, init_sentry

    # Discovery and reverification run in this process: their alerts (corrections, partitions that did not
    # converge) go to Sentry from here. Sentry starts a thread: only after the worker is forked.
    sentry = init_sentry(s, process="cli")
    try:
        listed = new = 0
        unreached: list[str] = []
        rt = runtime(s)
        for name in names:
            try:
                result = run_schedule_entry(rt, name, publish_reports, kind="once")
            except TransientError as error:
                unreached.append(f"{name}: {type(error).__name__}: {error}")
                click.echo(f"{name}: could not be walked: {error}", err=True)
                continue
            listed, new = listed + result["listed"], new + result["new"]
            unreached += [f"{name}: {piece}" for piece in result["incomplete"]]
            click.echo(f"{name}: {result['listed']} listed, {result['new']} new, "
                       f"{len(result['incomplete'])} incomplete partition(s)", err=True)
        process_pending(rt, s, started, options, worker)
        return _summary(rt, started, listed, new, unreached)
    finally:
        if sentry:
            flush_sentry()


def _interrupted(stop: Stop) -> int:
    # A second Ctrl-C while the worker finishes its current reports must not cut the clean-up short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    click.echo(f"fundcrawl: interrupted ({stop}); run the same command again to resume: what is stored is "
               "never fetched again and what was found stays queued", err=True)
    return 128 + stop.signum


def process_pending(rt: Runtime, s: Settings, since: dt.datetime, options: WorkerOptions | None = None,
                    worker: Worker | None = None) -> None:
    """Process every pending report with a local worker process; what was published before ``since`` (the
    leftovers of an interrupted run) is published again, what this command published is not."""
    from crawler import upkeep
    from crawler.tasks import publish_reports

    options = options or WorkerOptions(s)
    worker = worker or options.start()
    try:
        grace = (dt.datetime.now(dt.UTC) - since).total_seconds()
        rt.store.release_dead_owners()  # what an interrupted or killed earlier run held, at once
        upkeep.requeue_stuck(rt, publish_reports, queue_depth=0, grace_seconds=grace)
        worker = _drain(rt, s, worker, options, publish_reports)
    finally:
        stop_process(worker)


def _drain(rt: Runtime, s: Settings, worker: Worker, options: WorkerOptions, publish: Enqueue
           ) -> Worker:
    """Wait until no report is pending; keep the worker alive and the reconciler running meanwhile."""
    from crawler import upkeep

    pending = rt.store.pending_count()
    if not pending:
        return worker
    restarts, last_reconcile = 0, time.monotonic()
    with Progress("processing", pending) as progress:
        while pending:
            time.sleep(DRAIN_POLL_SECONDS)
            if worker.poll() is not None:
                if restarts >= MAX_WORKER_RESTARTS:
                    fail(f"the worker exited with code {worker.returncode} {restarts} times (its log is above); "
                         "pending reports stay queued for the next run", EXIT_UNREACHABLE)
                log.warning("worker exited with code %s; starting a new one", worker.returncode)
                restarts += 1
                worker = options.start()
            if time.monotonic() - last_reconcile >= s.reconcile_every:
                rt.store.release_dead_owners()
                upkeep.requeue_stuck(rt, publish, queue_depth=None)
                upkeep.keep_journal_small(rt)
                last_reconcile = time.monotonic()
            now_pending = rt.store.pending_count()
            total = max(progress.total, now_pending)
            progress.update(total - now_pending, total)
            pending = now_pending
    return worker


def report_summary(rt: Runtime, started: dt.datetime, prefix: str = "") -> bool:
    """Print what the database holds and every report that failed since ``started``; True if any did."""
    counts = rt.store.counts()
    failures = rt.store.health.failures_since(started)
    click.echo(f"{prefix}database now holds {counts['stored']} stored, {counts['failed']} failed, "
               f"{counts['pending']} pending report(s)")
    for failure in failures:
        click.echo(f"  failed {failure['upload_info_id']} ({failure['fund_code']}): "
                   f"{failure['failure_reason']}: {failure['last_error']}")
    return bool(failures)


def _summary(rt: Runtime, started: dt.datetime, listed: int, new: int, unreached: Sequence[str] = ()) -> int:
    failures = report_summary(rt, started, prefix=f"listed {listed}, new {new}; ")
    counts = rt.store.counts()
    if counts["total"] == 0 and not unreached:
        click.echo("nothing is stored yet: the schedule only looks at recently sent reports; for earlier years "
                   "run `fundcrawl backfill --report-types annual,interim,q1,q2,q3,q4 --years 2020-2025 --wait`")
    if unreached:
        for piece in unreached:
            click.echo(f"  not checked: {piece}")
        click.echo(f"{len(unreached)} partition(s) could not be checked (site or service unreachable); "
                   "run again later")
        return EXIT_UNREACHABLE
    return EXIT_FAILED if failures else EXIT_OK


__all__ = ["WorkerOptions", "process_pending", "report_summary", "run_once"]
