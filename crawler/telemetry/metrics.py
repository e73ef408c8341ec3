"""The daemon's own Prometheus counters, served on ``settings.metrics_port`` (off by default).

The Celery worker runs tasks in prefork children, and each child counts in its own memory. So the worker's main
process calls :func:`prepare_multiprocess` before the pool forks: prometheus-client then keeps every child's
values in mmap files under ``<data_dir>/metrics/<main pid>/``, and the one endpoint started by
:func:`start_metrics_server` in the main process adds them up. Processes that never call it (beat, the CLI)
count in memory. Metrics are created on first use, after that switch, so the order of imports does not matter.

Task-level figures (received, started, succeeded, retried, runtime) come from Celery events
(``FUNDCRAWL_TASK_EVENTS=true``) for Flower and the standard Celery exporter; these counters say what happened to
reports and to the site.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from crawler.exceptions import FAILURE_REASONS
from crawler.settings import Settings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_KINDS = ("search", "page")
PARSE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class _Metrics:
    discovered: Counter
    stored: Counter
    failed: Counter
    requests: Counter
    parse_seconds: Histogram
    drops: Counter
    retries: Counter


_state: dict[str, object] = {}
#: Guards metric creation. A pool child forked while another thread held it would wait forever, so every
#: child starts with a fresh lock. Folding has its own lock, only ever taken by the endpoint's threads.
_lock = threading.Lock()
_fold_lock = threading.Lock()


def _fresh_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def _build(registry: CollectorRegistry | None) -> _Metrics:
    return _Metrics(
        discovered=Counter("fundcrawl_reports_discovered", "New reports found on the site.", registry=registry),
        stored=Counter("fundcrawl_reports_stored", "Reports stored (parsed and saved).", registry=registry),
        failed=Counter("fundcrawl_reports_failed", "Reports that ended failed, by reason.", ["reason"],
                       registry=registry),
        requests=Counter("fundcrawl_site_requests", "Requests to the EID site by kind (search, page) and status.",
                         ["kind", "status"], registry=registry),
        parse_seconds=Histogram("fundcrawl_parse_seconds", "Time to parse one report page.",
                                buckets=PARSE_BUCKETS, registry=registry),
        drops=Counter("fundcrawl_pipeline_drops", "Items dropped by an item pipeline.", ["pipeline"],
                      registry=registry),
        retries=Counter("fundcrawl_task_retries", "Task retries (invisible in Sentry), by task.", ["task"],
                        registry=registry),
    )


def _metrics() -> _Metrics:
    with _lock:
        if "metrics" not in _state:
            # In multiprocess mode the values live in files and the serving registry reads those, so the
            # metric objects need no registry of their own.
            registry = None if MULTIPROC_ENV in os.environ else CollectorRegistry(auto_describe=True)
            _state["registry"], _state["metrics"] = registry, _build(registry)
        return _state["metrics"]  # type: ignore[return-value]


def count_discovered(n: int = 1) -> None:
    """``n`` new reports were added by discovery."""
    if n > 0:
        _metrics().discovered.inc(n)


def count_stored() -> None:
    _metrics().stored.inc()


def count_failed(reason: str) -> None:
    """A report ended failed; unknown reasons are counted as ``other`` to keep the label set closed."""
    _metrics().failed.labels(reason=reason if reason in FAILURE_REASONS else "other").inc()


def count_request(kind: str, status: int | str) -> None:
    """One request to the site: ``kind`` search or page, ``status`` the HTTP code or an error name (timeout...)."""
    _metrics().requests.labels(kind=kind if kind in REQUEST_KINDS else "other", status=str(status)).inc()


def observe_parse(seconds: float) -> None:
    _metrics().parse_seconds.observe(seconds)


@contextmanager
def parse_timer() -> Iterator[None]:
    """Time the ``with`` block into the parse histogram (also when parsing raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe_parse(time.perf_counter() - started)


def count_dropped(pipeline: str) -> None:
    """An item pipeline dropped an item (``DropItem``); ``pipeline`` is its class name."""
    _metrics().drops.labels(pipeline=pipeline).inc()


def count_retry(task: str) -> None:
    _metrics().retries.labels(task=task).inc()


def prepare_multiprocess(settings: Settings) -> Path:
    """Switch this process and its future children to file-backed metrics; call it before the pool forks.

    The worker main process calls it from the ``worker_init`` signal. Its folder is keyed by the main pid and
    emptied first (prometheus-client requires a clean folder per run); folders of dead worker runs are removed.
    """
    root = settings.data_dir / "metrics"
    for old in root.glob("*"):
        if old.is_dir() and old.name.isdigit() and not _alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    path = root / str(os.getpid())
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    # prometheus-client reads this variable to pick its storage; children inherit it through fork.
    os.environ[MULTIPROC_ENV] = str(path)
    with _lock:
        values.ValueClass = values.MultiProcessValue()
        _state.clear()
    _connect_worker_signals()
    log.info("metrics of worker children are collected in %s", path)
    return path


def join_multiprocess() -> None:
    """In a process started (not forked) by the one that called :func:`prepare_multiprocess`: count into the
    same folder, and mark this process dead in it when it shuts down."""
    if os.environ.get(MULTIPROC_ENV):
        with _lock:
            values.ValueClass = values.MultiProcessValue()
            _state.clear()
    _connect_worker_signals()
    from celery import signals

    signals.worker_shutdown.connect(_child_exited, weak=False, dispatch_uid="fundcrawl-metrics-consumer-exit")


def _connect_worker_signals() -> None:
    from celery import signals

    signals.worker_process_shutdown.connect(_child_exited, weak=False, dispatch_uid="fundcrawl-metrics-exit")
    signals.task_retry.connect(_task_retried, weak=False, dispatch_uid="fundcrawl-metrics-retry")


def _child_exited(pid: int | None = None, **_: object) -> None:
    mark_process_dead(pid or os.getpid())


def _task_retried(sender: object = None, request: object = None, **_: object) -> None:
    count_retry(str(getattr(request, "task", None) or getattr(sender, "name", "unknown")))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CompactingCollector(MultiProcessCollector):
    """Adds up every process's files, first folding the files of dead processes into one archive per type.

    Prefork children are replaced every ``worker_max_tasks_per_child`` tasks, each leaving files behind; without
    folding, a worker that runs for months would read thousands of files on every scrape. Counters and histograms
    only ever add up, so folding keeps every total; a lock keeps a scrape from seeing a half-folded state.
    """

    # MultiProcessCollector's methods carry no annotations: the two calls to them below are the only untyped calls.
    def __init__(self, registry: CollectorRegistry, path: Path) -> None:
        super().__init__(registry, path=str(path))  # type: ignore[no-untyped-call]
        self.path = path

    def collect(self) -> list[Metric]:
        with _fold_lock:
            self.fold_dead()
            return list(super().collect())  # type: ignore[no-untyped-call]

    def fold_dead(self) -> int:
        """Merge the files of dead processes into ``<type>_archive.db``; returns how many files were folded."""
        folded = 0
        for kind in ("counter", "histogram"):
            dead = [f for f in self.path.glob(f"{kind}_*.db") if _dead_pid_file(f)]
            if dead:
                _fold(self.path / f"{kind}_archive.db", dead)
                folded += len(dead)
        for pid in {int(f.stem.rsplit("_", 1)[1]) for f in self.path.glob("gauge_*.db") if _dead_pid_file(f)}:
            mark_process_dead(pid, str(self.path))
        return folded


def _dead_pid_file(path: Path) -> bool:
    pid = path.stem.rsplit("_", 1)[-1]
    return pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


def _fold(archive: Path, dead: list[Path]) -> None:
    from prometheus_client.mmap_dict import MmapedDict

    totals: dict[str, float] = {}
    for source in ([archive] if archive.exists() else []) + dead:
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(source)):
            totals[key] = totals.get(key, 0.0) + value
    staging = archive.with_name(archive.name + ".tmp")
    staging.unlink(missing_ok=True)
    merged = MmapedDict(str(staging))
    for key, value in totals.items():
        merged.write_value(key, value, 0.0)
    merged.close()
    os.replace(staging, archive)
    for source in dead:
        source.unlink()


def serving_registry() -> CollectorRegistry:
    """The registry the endpoint serves: all processes' files in multiprocess mode, else this process's metrics."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        registry = CollectorRegistry()
        CompactingCollector(registry, Path(path))
        return registry
    _metrics()
    return _state["registry"]  # type: ignore[return-value]


def start_metrics_server(settings: Settings, addr: str = "0.0.0.0") -> bool:
    """Serve ``/metrics`` on ``settings.metrics_port`` in a daemon thread; False when off or the port is taken.

    The worker main process calls it from ``worker_init`` right after :func:`prepare_multiprocess`. A taken
    port is logged, not raised: metrics must never stop the daemon.
    """
    if settings.metrics_port is None:
        return False
    try:
        start_http_server(settings.metrics_port, addr=addr, registry=serving_registry())
    except OSError as error:
        log.error("metrics endpoint not started: port %s: %s", settings.metrics_port, error.strerror)
        return False
    log.info("metrics served on http://%s:%s/metrics", addr, settings.metrics_port)
    return True
