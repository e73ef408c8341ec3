"""The Celery app. Its configuration is built from Settings the first time it is read, not at import.

Reliability settings: late acks (a message is acked only after its task returned), reject on worker lost, prefetch
1, JSON only, results ignored, a visibility timeout that covers the longest task plus the longest retry countdown. Exactly-once storage
does not rely on any of them: it comes from the database (see ``crawler/processing.py``).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import logging
import os
import random
import resource
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from celery import Celery, Task, signals
from celery.beat import PersistentScheduler
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import maybe_make_aware

from crawler.schedules import Schedules, cron_schedule, load_schedules
from crawler.settings import Settings, get_settings

log = logging.getLogger(__name__)

DISCOVERY_QUEUE = "discovery"
REPORTS_QUEUE = "reports"
#: Re-parsing archived pages: its own queue, so a re-parse of the whole history never delays new reports.
REPARSE_QUEUE = "reparse"
#: The queues a worker consumes unless told otherwise.
ALL_QUEUES = (DISCOVERY_QUEUE, REPORTS_QUEUE, REPARSE_QUEUE)
#: Task names are part of every message in a queue: a renamed task would leave queued messages unrunnable, so the
#: report task's former name stays registered (running the same work) beside its current one.
PROCESS_REPORT_TASK = "fundcrawl.process_report"
LEGACY_PROCESS_REPORT_TASK = "fundcrawl.fetch_report"
REPARSE_TASK = "fundcrawl.reparse"
DISCOVER_TASK = "fundcrawl.discover"
RECONCILE_TASK = "fundcrawl.reconcile"
#: The beat entry of the reconciler (also the name its Sentry monitor checks in under).
RECONCILE_BEAT_ENTRY = "fundcrawl-reconcile"
#: Where the chaos battery's fault hook (FUNDCRAWL_TEST_FAULT) kills a worker process: a report task returned,
#: so its state is committed, and its message is not acked yet.
AFTER_COMMIT_BEFORE_ACK = "after_commit_before_ack"
#: Seconds between polls of the embedded SQLite broker when it had nothing to deliver. A child that finishes a
#: report waits half of it on average for the next one (bench/pipeline.py); each idle poll costs well under 1 ms.
EMBEDDED_POLLING_INTERVAL = 0.05


def transport_options(settings: Settings) -> dict[str, Any]:
    """Broker transport options: socket timeouts and visibility for Redis, a busy timeout for embedded SQLite."""
    if settings.embedded:
        from crawler.storage.broker import embedded_transport_options

        return embedded_transport_options()
    return {
        "visibility_timeout": settings.visibility_timeout,
        "socket_timeout": 30,
        "socket_connect_timeout": 10,
        "socket_keepalive": True,
        "health_check_interval": 25,
    }


def probe_broker(settings: Settings, timeout: float = 5) -> str:
    """Connect to the broker once, without the app's configuration (which reads the schedule files, so a schedule
    error is never reported as a broker failure); returns the masked URL. Raises what kombu raised."""
    from kombu.connection import Connection

    options = {k: v for k, v in transport_options(settings).items() if k != "health_check_interval"}
    with Connection(settings.broker, transport_options=options, connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)
        return str(connection.as_uri())


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting fundcrawl uses, derived from Settings."""
    schedules = load_schedules(settings.schedules)
    options = transport_options(settings)
    return {
        "broker_url": settings.broker,
        "broker_transport_options": options,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "result_backend": None,
        # No result backend, so no `celery.backend_cleanup` beat entry either.
        "result_expires": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "worker_max_memory_per_child": settings.worker_max_memory_per_child,
        "accept_content": ["json"],
        "task_serializer": "json",
        "result_accept_content": ["json"],
        "task_default_queue": REPORTS_QUEUE,
        "task_routes": {
            PROCESS_REPORT_TASK: {"queue": REPORTS_QUEUE},
            LEGACY_PROCESS_REPORT_TASK: {"queue": REPORTS_QUEUE},
            DISCOVER_TASK: {"queue": DISCOVERY_QUEUE},
            RECONCILE_TASK: {"queue": DISCOVERY_QUEUE},
            REPARSE_TASK: {"queue": REPARSE_QUEUE},
        },
        "task_create_missing_queues": True,
        "task_annotations": {DISCOVER_TASK: {
            "time_limit": settings.discovery_limit, "soft_time_limit": settings.discovery_limit - 15}},
        # Celery events feed Flower and the standard Celery Prometheus exporter; they cost every report a few
        # broker messages (1-2 ms of CPU in all, bench/pipeline.py), so they are on only when asked for.
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
        "worker_hijack_root_logger": False,
        "timezone": schedules.timezone,
        "enable_utc": True,
        "beat_schedule": beat_schedule(schedules, reconcile_every=settings.reconcile_every),
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
        "beat_max_loop_interval": 30,
        "beat_scheduler": f"{__name__}:SteppedClockScheduler",
    }


def beat_schedule(schedules: Schedules, *, reconcile_every: float) -> dict[str, dict[str, Any]]:
    """Celery beat entries: one per enabled schedule entry, plus the outbox reconciler."""
    beat: dict[str, dict[str, Any]] = {}
    for name, entry in schedules.entries.items():
        if not entry.enabled:
            continue
        when: Any = (cron_schedule(entry.cron, schedules.timezone) if entry.cron
                     else dt.timedelta(seconds=entry.period_seconds))
        beat[name] = {
            "task": DISCOVER_TASK,
            "schedule": when,
            "args": (name,),
            # A tick that waited in the queue this long is stale: a later tick supersedes it.
            "options": {"queue": DISCOVERY_QUEUE, "expires": max(entry.period_seconds, 600)},
        }
    beat[RECONCILE_BEAT_ENTRY] = {
        "task": RECONCILE_TASK,
        "schedule": dt.timedelta(seconds=reconcile_every),
        "options": {"queue": DISCOVERY_QUEUE, "expires": max(reconcile_every, 10)},
    }
    return beat


#: The signals beat stops on. Celery's handler for them saves the schedule, closes it and the broker connection,
#: and raises SystemExit wherever the main thread was.
BEAT_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold beat's stop signals until the block is done, then deliver them (the handler in place by then runs).

    Run in the middle of a tick, the handler would close the connection a task was being published on and save
    the schedule while the tick was changing it, and the publish's own clean-up could then fail instead of beat
    exiting 0. Held this way, the handler runs between two ticks. A second stop signal during the block is not
    held: a tick stuck on an unreachable broker never keeps beat from stopping. Only the main thread sets signal
    handlers; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous: dict[int, Any] = {}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)

    def hold(received: int, _frame: Any) -> None:
        if not held:
            held.append(received)
            return
        held.clear()  # asked again: stop now, as beat would without holding
        restore()
        signal.raise_signal(received)

    for number in BEAT_STOP_SIGNALS:
        previous[number] = signal.signal(number, hold)
    try:
        yield
    finally:
        restore()
        for received in held:
            signal.raise_signal(received)


class SteppedClockScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery beat's persistent scheduler, made to keep firing after the wall clock stepped back, and to stop
    between ticks.

    Beat times every entry from its ``last_run_at`` and keeps the next runs as absolute times: after a backward
    step of the clock (by hand, a bad NTP server, a restored VM) the last runs lie in the future and beat would
    fire nothing until the clock caught up with them, hours later for a step of hours. Before each tick, an
    entry that last ran "later than now" is taken as having just run, and the next runs are computed again.
    A SIGTERM or SIGINT that arrives during a tick or a save of the schedule is handled once it is done
    (:func:`stop_signals_held`).
    """

    def tick(self, *args: Any, **kwargs: Any) -> float:
        with stop_signals_held():
            self.undo_backward_step()
            return float(super().tick(*args, **kwargs))

    def sync(self) -> None:
        with stop_signals_held():
            super().sync()

    def undo_backward_step(self) -> int:
        """Reset every entry whose last run lies in the future to now; returns how many were reset."""
        ahead = []
        for entry in self.schedule.values():
            now = maybe_make_aware(entry.default_now())  # the entry's schedule's clock, as beat reads it
            if maybe_make_aware(entry.last_run_at) > now:
                ahead.append((entry, now))
        if not ahead:
            return 0
        step = max(maybe_make_aware(entry.last_run_at) - now for entry, now in ahead)
        log.warning("beat: the clock stepped back by %.0fs; %d schedule entries counted as run now, so each "
                    "fires one period from now", step.total_seconds(), len(ahead))
        for entry, now in ahead:
            entry.last_run_at = now
        self._heap = None  # the queued next runs are absolute times from before the step: compute them again
        self.sync()
        return len(ahead)


def _lazy_config() -> dict[str, Any]:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return celery_config(settings)


def _tune_embedded_broker() -> None:
    """Poll the SQLite broker every :data:`EMBEDDED_POLLING_INTERVAL` seconds instead of kombu's 1 s default.

    With prefetch 1 a worker process asks for its next task only after acking the last one; at 1 s per poll the
    embedded daemon could never do more than one report per second per process.
    """
    from crawler.storage.broker import tune_embedded_transport

    tune_embedded_transport(EMBEDDED_POLLING_INTERVAL)


_tune_embedded_broker()
app = Celery("fundcrawl", include=["crawler.tasks"])
app.add_defaults(_lazy_config)


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    """Use our log format (and secret masking) instead of Celery's."""
    from crawler.telemetry.logs import configure_logging

    configure_logging(get_settings())


#: ``mallopt`` parameter number of glibc's fastbin size limit (``M_MXFAST`` in <malloc.h>).
M_MXFAST = 1


@signals.worker_init.connect
def tune_memory_management(**_: Any) -> None:
    """Tune the garbage collector and the C allocator for parsing: in a worker's main process before the pool
    forks, and in ``fundcrawl reparse``.

    ``gc.freeze()``: a report's parse allocates enough containers to set off full collections, each of which
    walked the ~150,000 objects of Celery, SQLAlchemy, Scrapy and lxml (1.4 ms of collection per report, 0.3 ms
    once they are frozen; measured in one process over the corpus). Frozen objects are never scanned, and pool
    children, recycled ones too, inherit the frozen set and share those pages copy-on-write.

    No glibc fastbins: a parse frees a tree of tens of thousands of small libxml2 nodes, which glibc parks in
    fastbins and consolidates in one go at the next large allocation, a few ms landing in whatever runs next.
    Freeing them at once makes a report ~2 ms (7%) cheaper in all, the parse itself ~9% (bench/pipeline.py,
    bench/README.md). Skipped where the C library has no ``mallopt`` (not glibc).
    """
    gc.collect()
    gc.freeze()
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    if not mallopt(M_MXFAST, 0):
        log.info("the C library refused mallopt(M_MXFAST, 0); its fastbins stay on")


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """A forked child must not reuse the broker database sockets of its parent."""
    from crawler.storage.broker import forget_inherited_connections

    forget_inherited_connections()


@signals.celeryd_init.connect
def _init_worker_sentry(**_: Any) -> None:
    """Sentry in the worker main process, before the pool forks (children inherit the client)."""
    from crawler.telemetry.alerts import init_sentry
    from crawler.telemetry.logs import configure_logging

    configure_logging(get_settings())  # celeryd_init runs before Celery's setup_logging
    init_sentry(get_settings(), process="worker")


@signals.worker_init.connect
def _arm_test_fault(**_: Any) -> None:
    """Connect the chaos battery's fault hook when FUNDCRAWL_TEST_FAULT asks for it; otherwise nothing is connected.

    Connected in the worker main process before the pool forks, so every child (recycled ones too) has it.
    """
    fault = get_settings().test_fault
    if fault:
        signals.task_success.connect(partial(_kill_after_commit, fault), weak=False)


def _kill_after_commit(fault: str, sender: Task | None = None, **_: Any) -> None:
    """SIGKILL this process after a report task returned (its state committed, its message not acked yet), with
    the probability ``fault`` (``<point>:p=<probability>``) gives."""
    point, _sep, probability = fault.partition(":p=")
    if point != AFTER_COMMIT_BEFORE_ACK or sender is None:
        return
    if sender.name in (PROCESS_REPORT_TASK, LEGACY_PROCESS_REPORT_TASK) and random.random() < float(probability):
        log.warning("test fault %s: killing process %s", point, os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)


@signals.worker_process_shutdown.connect
def _flush_child_sentry(**_: Any) -> None:
    """A pool child leaves with ``os._exit`` (no atexit): send the events it queued before it goes."""
    from crawler.telemetry.alerts import flush_sentry

    flush_sentry()


@signals.beat_init.connect
def _init_beat_sentry(**_: Any) -> None:
    """Sentry in beat: the Celery integration turns each beat entry into a cron monitor."""
    from crawler.telemetry.alerts import init_sentry

    init_sentry(get_settings(), process="beat")


@signals.worker_init.connect
def _init_metrics(**_: Any) -> None:
    """One Prometheus endpoint in the worker main process, adding up every pool child's counters."""
    from crawler.telemetry import metrics

    settings = get_settings()
    if settings.metrics_port is not None:
        if _InProcessLimits.enabled:
            # An embedded consumer: its supervisor serves the endpoint over the metric files every consumer
            # writes (the folder arrives in the environment), as a prefork parent does for its children.
            metrics.join_multiprocess()
            return
        metrics.prepare_multiprocess(settings)
        metrics.start_metrics_server(settings)


class _InProcessLimits:
    """Time limits, task and memory caps for a solo-pool consumer, which Celery enforces only in a prefork pool.

    Before each task an interval timer is set to the soft limit: its SIGALRM raises SoftTimeLimitExceeded in the
    task (the solo pool runs tasks in the main thread), then is set again to the hard limit, at which the process
    kills itself, as a prefork parent kills a child that overran; its supervisor starts a new one and the lease is
    released because its owner is gone. After ``worker_max_tasks_per_child`` tasks, or once the process grew past
    ``worker_max_memory_per_child``, it asks itself for a warm shutdown (SIGTERM) to be replaced.
    """

    enabled = False
    soft: float = 0.0
    hard: float = 0.0
    in_soft = False
    tasks = 0


def enforce_limits_in_process() -> None:
    """Turn on :class:`_InProcessLimits` in this process (the embedded consumer)."""
    _InProcessLimits.enabled = True
    signal.signal(signal.SIGALRM, _on_alarm)


def _on_alarm(_signum: int, _frame: Any) -> None:
    limits = _InProcessLimits
    if limits.in_soft and limits.hard > limits.soft:
        limits.in_soft = False
        signal.setitimer(signal.ITIMER_REAL, limits.hard - limits.soft)
        raise SoftTimeLimitExceeded(limits.soft)
    log.error("task exceeded its hard time limit (%.0fs): ending this consumer process", limits.hard)
    os.kill(os.getpid(), signal.SIGKILL)


@signals.task_prerun.connect
def _arm_limits(task: Task | None = None, **_: Any) -> None:
    limits = _InProcessLimits
    if not limits.enabled or task is None:
        return
    hard_request, soft_request = task.request.timelimit or (None, None)
    limits.hard = float(hard_request or task.time_limit or app.conf.task_time_limit or 0)
    limits.soft = float(soft_request or task.soft_time_limit or app.conf.task_soft_time_limit or 0)
    limits.in_soft = bool(limits.soft)
    first = limits.soft or limits.hard
    if first:
        signal.setitimer(signal.ITIMER_REAL, first)


@signals.task_postrun.connect
def _disarm_limits(**_: Any) -> None:
    limits = _InProcessLimits
    if not limits.enabled:
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    limits.tasks += 1
    settings = get_settings()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    if limits.tasks >= settings.worker_max_tasks_per_child or grown_kib > settings.worker_max_memory_per_child:
        log.info("consumer %s leaves after %d task(s) (peak %d KiB) to be replaced", os.getpid(), limits.tasks,
                 grown_kib)
        os.kill(os.getpid(), signal.SIGTERM)
