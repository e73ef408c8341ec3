"""The embedded daemon's process model: one owner of the data dir supervising independent consumer processes.

Why not Celery's prefork pool: with the SQLite broker (kombu's SQLAlchemy transport, which has no asynchronous
I/O) Celery runs its synchronous loop, and that loop uses billiard's blocking pool, whose children all read their
tasks from one shared queue behind one read lock. An idle child waits for its next task while holding that lock;
SIGKILL it then and the lock is never released: every new child blocks forever and the worker does nothing again.

Here each consumer is its own ``celery worker --pool=solo`` process (one task at a time, prefetch 1) reading the
SQLite broker itself; nothing is shared between consumers but the broker's and the database's files, which
SQLite keeps consistent whoever dies. The supervisor restarts a consumer that exits, and a consumer dies with its
supervisor (``PR_SET_PDEATHSIG``).

The supervisor imports the consumer's code once and forks each consumer from itself (``multiprocessing``'s fork
context), before it has a thread, a database connection or a broker connection of its own to pass on: a consumer
is ready about a second sooner than a new interpreter importing Celery, SQLAlchemy, Scrapy and the parser, and
that second of CPU per consumer is no longer taken from the work at start-up or at each restart. The fork holds
no lock a consumer needs: Celery's state, the engines and the broker connections are all made in the consumer.

``run --once`` goes one step further: it forks the worker (this supervisor) from itself (:func:`fork_command`),
after importing the consumers' code, which it needs for discovery anyway; a restarted worker is a new process.

What a killed consumer held (one report lease, at most one discovery run) is recorded with its process identity
and released at once by the next reconciler pass (crawler/owners.py).

The solo pool enforces no time limits, so the consumer does (:mod:`crawler.celery_app`: an interval timer raises
the soft limit and kills the process at the hard one), and it leaves after ``worker_max_tasks_per_child`` tasks or
above ``worker_max_memory_per_child``, as a prefork child would, for the supervisor to replace.
"""

from __future__ import annotations

import ctypes
import fcntl
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import IO, ClassVar

from crawler.exceptions import ConfigError
from crawler.settings import Settings, get_settings
from crawler.storage import owners

log = logging.getLogger(__name__)

#: The ``prctl`` option that sends the child a signal when its parent dies (<linux/prctl.h>).
PR_SET_PDEATHSIG = 1
#: A consumer that exits sooner than this after its start counts as crash-looping: restarts back off.
QUICK_EXIT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 30.0
#: How often the supervisor looks at its consumers and at the stop signals it received (a signal does not cut its
#: sleep short): a stop is acted on within this long.
CHECK_SECONDS = 0.05
LOCK_NAME = "daemon.lock"
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class DataDirBusy(ConfigError):
    """Another daemon owns the data dir."""


@dataclass
class DataDirLock:
    """An exclusive ``flock`` on ``<data dir>/daemon.lock`` for this process's lifetime; the file names the owner.

    The kernel drops the lock when the owner dies however it dies, so a stale file never blocks a restart.
    """

    data_dir: Path
    _fd: int | None = None
    #: Lock files this process holds open: a forked consumer closes its copies (the lock stays with the owner).
    held: ClassVar[set[int]] = set()

    @property
    def path(self) -> Path:
        return self.data_dir / LOCK_NAME

    def acquire(self, command: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirBusy(
                f"the data dir is in use by another fundcrawl daemon ({holder}); stop it first, or give this one "
                "its own FUNDCRAWL_DATA_DIR", source=str(self.path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"fundcrawl {command}, pid {os.getpid()} on {owners.host()}\n".encode(), 0)
        self._fd = fd
        DataDirLock.held.add(fd)

    def release(self) -> None:
        if self._fd is not None:
            DataDirLock.held.discard(self._fd)
            os.close(self._fd)
            self._fd = None

    @classmethod
    def close_inherited(cls) -> None:
        """In a forked child: close its copies of the lock files (the lock stays with the process that took it)."""
        for fd in cls.held:
            os.close(fd)
        cls.held.clear()


def die_with_parent(signum: int) -> None:
    """In a child (forked, or before its exec): the kernel sends it ``signum`` when its parent dies, even by
    SIGKILL, so no orphaned worker, beat or consumer keeps running. Linux only; elsewhere a no-op."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
    except (AttributeError, OSError):
        pass  # not Linux: an orphaned child ends at its next warm shutdown instead


def _become_own_process(parent: int, death_signal: int) -> None:
    """First steps of a forked child that runs a command: it dies with ``parent``, handles signals as a new
    interpreter would (not as the parent, whose handlers only note them or raise in its own code), and holds none
    of the parent's locks."""
    die_with_parent(death_signal)
    if os.getppid() != parent:  # the parent died before the line above: do not outlive it
        os._exit(1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    DataDirLock.close_inherited()


def _run_command(args: list[str]) -> None:
    """Run ``fundcrawl <args>`` in this forked child, and close its connections at the end."""
    from crawler.cli import main
    from crawler.storage import dispose_engines
    from crawler.storage.broker import close_connections, forget_inherited_connections

    forget_inherited_connections()
    try:
        main.main(args=args, prog_name="fundcrawl")
    finally:
        # A forked process leaves without running atexit or collecting its garbage: close its database and broker
        # connections, so the last process out folds each WAL back into its file.
        dispose_engines()
        close_connections()


def preload_consumer() -> None:
    """Import what a consumer runs (the Celery app, its tasks and the worker's own modules) in the supervisor, or
    in the command that forks the worker, once, so every forked consumer starts with it loaded."""
    for module in ("celery.apps.worker", "celery.worker.consumer", "crawler.cli.daemon", "crawler.tasks"):
        importlib.import_module(module)


def _run_consumer(args: list[str], supervisor_pid: int) -> None:
    """The forked consumer: what a new ``fundcrawl consumer`` process would do, from a clean slate."""
    _become_own_process(supervisor_pid, signal.SIGKILL)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stdout belongs to the command that started the worker
    _run_command(args)


def can_fork() -> bool:
    """True while this process has one thread: a thread's locks (logging's, a stream's) would stay held forever
    in a forked child."""
    return threading.active_count() == 1


class ForkedChild:
    """A command running in a process forked from this one (:func:`fork_command`), with what the commands use of
    :class:`subprocess.Popen` on their children."""

    def __init__(self, process: BaseProcess, stdout: IO[bytes]) -> None:
        self.process = process
        self.stdout = stdout

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def send_signal(self, signum: int) -> None:
        if self.process.pid is not None and self.process.exitcode is None:  # not reaped yet: the pid is still its
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_command(args: Sequence[str], env: dict[str, str], *, name: str) -> ForkedChild:
    """``fundcrawl <args>`` in a process forked from this one, with ``env`` as its environment and its stdout and
    stderr on the returned child's ``stdout`` pipe; it gets SIGTERM when this process dies.

    What a new ``python -m crawler`` process does, without its start-up: the child has every module this process
    imported. Only when :func:`can_fork`, and with no database or broker connection open (the child would share
    them with this process); the child runs no ``atexit`` handlers.
    """
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    process = multiprocessing.get_context("fork").Process(
        target=_run_forked, args=(list(args), env, read_fd, write_fd, os.getpid()), name=name)
    # As for a consumer: a stop signal that arrives while forking is the parent's to handle, after the fork.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        process.start()
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return ForkedChild(process, os.fdopen(read_fd, "rb"))


def _run_forked(args: list[str], env: dict[str, str], read_fd: int, write_fd: int, parent: int) -> None:
    _become_own_process(parent, signal.SIGTERM)
    os.close(read_fd)
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    for stream in (sys.stdout, sys.stderr):  # a pipe now, and read as it comes, as a new process's would be
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    os.environ.clear()
    os.environ.update(env)
    get_settings.cache_clear()  # read again from ``env``, as a new process would (the log level may differ)
    _run_command(args)


def split_concurrency(extra: Sequence[str], default: int) -> tuple[int, list[str]]:
    """The ``-c N`` / ``--concurrency[=]N`` among Celery options (how many consumers to run), and the rest."""
    rest: list[str] = []
    count = default
    args = list(extra)
    while args:
        arg = args.pop(0)
        if arg in ("-c", "--concurrency") and args:
            count = int(args.pop(0))
        elif arg.startswith("--concurrency="):
            count = int(arg.split("=", 1)[1])
        elif arg.startswith("-c") and arg[2:].isdigit():
            count = int(arg[2:])
        else:
            rest.append(arg)
    if count < 1:
        raise ConfigError("the concurrency must be at least 1", source="-c/--concurrency")
    return count, rest


def _without_node_name(options: Sequence[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in options:
        if skip:
            skip = False
        elif arg in ("-n", "--hostname"):
            skip = True
        elif not arg.startswith("--hostname="):
            kept.append(arg)
    return kept


@dataclass
class Child:
    name: str
    args: list[str]
    process: BaseProcess | None = None
    started: float = 0.0
    quick_exits: int = 0
    restart_at: float = 0.0
    restarts: int = 0


@dataclass
class Supervisor:
    """Starts the consumers, restarts whichever exits, stops them all on SIGTERM or SIGINT."""

    settings: Settings
    extra: Sequence[str] = ()
    children: list[Child] = field(default_factory=list)
    _stopping: bool = False

    def __post_init__(self) -> None:
        count, options = split_concurrency(self.extra, self.settings.concurrency)
        options = _without_node_name(options)  # each consumer gets its own
        for number in range(count):
            node = f"fundcrawl-{os.getpid()}-{number}@%h"
            self.children.append(Child(f"consumer {number}", ["consumer", "-n", node, *options]))

    def start(self) -> None:
        from crawler.storage.broker import prepare_embedded_broker

        preload_consumer()  # first: it installs fundcrawl's broker channel, which the preparation then uses
        prepare_embedded_broker(self.settings.broker)
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        child.process = multiprocessing.get_context("fork").Process(
            target=_run_consumer, args=(child.args, os.getpid()), name=child.name)
        # A stop signal that arrives while forking waits until the consumer has its own handlers (the copies of
        # the supervisor's would only note it); the supervisor gets it right after.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            child.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        child.started = time.monotonic()

    def check(self) -> None:
        """Restart every child that exited (backing off when one keeps exiting right after its start)."""
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if process is None or process.exitcode is None or self._stopping:
                continue
            if not child.restart_at:
                quick = now - child.started < QUICK_EXIT_SECONDS
                child.quick_exits = child.quick_exits + 1 if quick else 0
                delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** child.quick_exits) if quick else 0.0
                child.restart_at = now + delay
                log.warning("%s (pid %s) exited with code %s; restarting it%s", child.name, process.pid,
                            process.exitcode, f" in {delay:.0f}s" if delay >= 1 else "")
            if now >= child.restart_at:
                child.restart_at = 0.0
                child.restarts += 1
                self._spawn(child)

    def stop(self, timeout: float = 60) -> None:
        """Warm shutdown (SIGTERM: each consumer finishes its task), then SIGKILL what is left after ``timeout``."""
        self._stopping = True
        running = [c.process for c in self.children if c.process is not None and c.process.exitcode is None]
        for process in running:
            process.terminate()  # SIGTERM
        deadline = time.monotonic() + timeout
        for process in running:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.exitcode is None:
                process.kill()
                process.join()

    def serve(self) -> None:
        """Supervise until SIGTERM or SIGINT, then stop every child."""
        received: list[int] = []

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            received.append(signum)

        previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
        try:
            self.start()
            while not received:
                self.check()
                time.sleep(CHECK_SECONDS)
            log.info("received %s: stopping the consumers", signal.Signals(received[0]).name)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def release_dead_work(settings: Settings) -> None:
    """What processes of this machine that no longer exist held: reports back to pending, runs closed."""
    from crawler.storage import Store

    store = Store.from_url(settings.database)
    try:
        released = store.release_dead_owners()
        if released:
            log.warning("%d report(s) held by processes that no longer exist were released and will be "
                        "published again", released)
    finally:
        store.close_connections()
