"""Commands that run the daemon: ``run``, ``worker``, ``beat`` and ``discover``."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any

import click

from crawler.cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    fail,
    main,
    settings,
    skip_final_collection,
)
from crawler.cli.supervisor import (
    DataDirLock,
    ForkedChild,
    Supervisor,
    die_with_parent,
    fork_command,
    preload_consumer,
    release_dead_work,
)
from crawler.exceptions import ConfigError
from crawler.settings import Settings

log = logging.getLogger(__name__)

PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}
LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)
#: How long ``discover`` waits for a worker to start the run it asked for before it says none is consuming.
DISCOVER_WAIT_SECONDS = 20.0
#: Longest wait for messages of an embedded consumer's loop: one broker poll (celery_app.EMBEDDED_POLLING_INTERVAL),
#: so a consumer asked to stop leaves within about 0.1 s (at 0.2 s, each ``run --once`` waited 0.3-0.4 s for it).
CONSUMER_DRAIN_SECONDS = 0.05
#: How often a child being stopped is looked at: ``run --once`` ends this long, at most, after its worker does.
STOP_POLL_SECONDS = 0.05


def _celery_args(s: Settings, extra: Sequence[str]) -> list[str]:
    """Worker options fundcrawl always wants, unless the operator passed their own."""
    args = list(extra)
    if not any(a.startswith(("-Q", "--queues")) for a in args):
        from crawler.celery_app import ALL_QUEUES

        args += ["-Q", ",".join(ALL_QUEUES)]
    if not any(a.startswith(("-c", "--concurrency")) for a in args):
        args += ["-c", str(s.concurrency)]
    if not any(a.startswith(("-n", "--hostname")) for a in args):
        # Several workers on one machine (a scaled Procfile) need distinct node names for inspect/control.
        args += ["-n", f"fundcrawl-{os.getpid()}@%h"]
    if s.embedded:
        # The SQLite broker has no fanout exchange: no mingle/gossip between workers (there is one machine).
        args += ["--without-mingle", "--without-gossip"]
    return args


def ensure_data_dir(s: Settings) -> None:
    """Make the data dir and prove it is writable, so a read-only or missing path is named at start-up rather
    than surfacing as "unable to open database file" deep inside SQLite."""
    try:
        s.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=s.data_dir):
            pass
    except OSError as error:
        raise ConfigError(f"data dir {s.data_dir.resolve()} is not usable ({error.strerror or error}); make it "
                          "writable by this user or set FUNDCRAWL_DATA_DIR to another folder",
                          source="FUNDCRAWL_DATA_DIR") from None


def _ready(s: Settings, *, create_schema: bool = False) -> None:
    """Refuse to start against a missing or outdated schema; make the data dir.

    ``create_schema``: the embedded daemon (``run``, or its ``worker`` and ``beat`` started on their own) owns its
    SQLite database file, so it creates or upgrades the schema itself; processes on a shared database keep that
    an explicit ``db upgrade`` step.
    """
    from crawler.storage import Store, upgrade_embedded

    ensure_data_dir(s)
    if create_schema:
        done = upgrade_embedded(s.database)
        if done is not None:
            click.echo(done, err=True)
    Store.open(s.database)


def beat_preview(s: Settings, state_file: Path) -> list[tuple[str, dt.datetime]]:
    """Run beat's own schedule machinery once against ``state_file``: load every entry, compute its next run and
    persist the schedule, so a schedule beat cannot pickle or a state file it cannot write fails here, loudly,
    instead of inside a beat process nobody watches. Returns (entry, next run in the schedule's timezone)."""
    from zoneinfo import ZoneInfo

    from crawler.celery_app import SteppedClockScheduler, app
    from crawler.schedules import load_schedules

    zone = ZoneInfo(load_schedules(s.schedules).timezone)
    try:
        scheduler = SteppedClockScheduler(app, schedule_filename=str(state_file), lazy=False)
        try:
            now = app.now()
            upcoming = []
            for name, entry in sorted(scheduler.schedule.items()):
                remaining = entry.schedule.remaining_estimate(entry.last_run_at)
                when = now + max(remaining, dt.timedelta(0))
                # Beat counts from the last run's whole second: shown rounded up, a cron run at :15 reads :15:00.
                if when.microsecond:
                    when = when.replace(microsecond=0) + dt.timedelta(seconds=1)
                upcoming.append((name, when.astimezone(zone)))
            scheduler.sync()
        finally:
            scheduler.close()
    except ConfigError:
        raise
    except Exception as error:  # whatever beat's persistence raised (pickle, dbm, OS) stops start-up
        raise ConfigError(f"beat cannot load or save its schedule in {state_file}: {type(error).__name__}: {error}",
                          source="schedules") from error
    return sorted(upcoming, key=lambda item: item[1])


def _remove_state(state_file: Path) -> None:
    # dbm back ends add their own suffixes (.db, .dat/.dir/.bak).
    for path in state_file.parent.glob(state_file.name + "*"):
        path.unlink(missing_ok=True)


def check_beat(s: Settings) -> list[tuple[str, dt.datetime]]:
    """:func:`beat_preview` against a throw-away state file beside the real one (same disk, same permissions)."""
    ensure_data_dir(s)
    state_file = s.data_dir / f"celerybeat-schedule.check-{os.getpid()}"
    try:
        return beat_preview(s, state_file)
    finally:
        _remove_state(state_file)


def print_next_runs(upcoming: list[tuple[str, dt.datetime]], stream: IO[str] | None = None) -> None:
    for name, when in upcoming:
        click.echo(f"  next run {when:%Y-%m-%d %H:%M:%S %Z}  {name}", file=stream or sys.stderr)


def child_env(log_level: str | None) -> dict[str, str]:
    """The environment of a child ``fundcrawl`` process: this one's, with the log level asked for on the command
    line (children read it through their own settings)."""
    env = dict(os.environ)
    if log_level:
        env["FUNDCRAWL_LOG_LEVEL"] = log_level.upper()
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def start_child(command: str, extra: Sequence[str], *, verbose: bool = False, log_level: str | None = None,
                stdout: Any = None) -> subprocess.Popen[bytes]:
    """A real ``fundcrawl worker`` or ``fundcrawl beat`` child process with the same settings.

    A worker child works for this process, which owns the data dir: it does not try to take it again.
    """
    args = [sys.executable, "-m", "crawler", *_child_command(command, extra, verbose=verbose)]
    # SIGTERM when this process dies, even by SIGKILL: no orphaned worker or beat keeps running.
    orphan_guard = partial(die_with_parent, signal.SIGTERM) if sys.platform == "linux" else None
    # The children's banner and logs go to stderr: stdout is the command's own summary, for scripts.
    return subprocess.Popen(args, stdout=stdout if stdout is not None else sys.stderr,
                            stderr=subprocess.STDOUT if stdout is not None else None, env=child_env(log_level),
                            preexec_fn=orphan_guard)  # noqa: PLW1509


def _child_command(command: str, extra: Sequence[str], *, verbose: bool) -> list[str]:
    owned = ["--owned-by-parent"] if command == "worker" else []
    return [command, *owned, *([] if verbose else ["--quiet"]), *extra]


def start_worker_process(extra: Sequence[str], concurrency: int | None = None, *, verbose: bool = False,
                         log_level: str | None = None, stdout: Any = None) -> subprocess.Popen[bytes]:
    """A real `fundcrawl worker` child process with the same environment."""
    args = [*extra, *(["-c", str(concurrency)] if concurrency is not None else [])]
    return start_child("worker", args, verbose=verbose, log_level=log_level, stdout=stdout)


def fork_worker_process(extra: Sequence[str], *, verbose: bool = False, log_level: str | None = None
                        ) -> ForkedChild:
    """A `fundcrawl worker` child forked from this process (only when ``supervisor.can_fork()``), its output on
    the child's ``stdout`` pipe.

    This process first imports what the worker's consumers run, which it needs next anyway, and closes its
    database and broker connections (it opens new ones when it next needs them), so nothing open crosses the fork.
    The worker then forks its consumers at once: they start 0.6-0.8 s sooner than from a new interpreter, which
    imports all of it again (bench/once.py), and that second of CPU is no longer taken from the work.
    """
    from crawler.storage import dispose_engines
    from crawler.storage.broker import close_connections

    preload_consumer()
    dispose_engines()
    close_connections()
    return fork_command(_child_command("worker", extra, verbose=verbose), child_env(log_level), name="worker")


def stop_process(process: subprocess.Popen[bytes] | ForkedChild, timeout: float = 60) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(STOP_POLL_SECONDS)
    if process.poll() is None:
        process.kill()
        process.wait()


class Stop(Exception):
    """SIGTERM (or SIGINT) reached the supervising process: stop the children and exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stop_on_signals() -> None:
    """SIGTERM and SIGINT raise :class:`Stop` in the main thread, so ``finally`` blocks stop every child."""
    def handler(signum: int, _frame: object) -> None:
        raise Stop(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _configure_cli_logging(s: Settings, level: str | None = None) -> None:
    from crawler.telemetry.logs import configure_logging

    configure_logging(s.model_copy(update={"log_level": level.upper()}) if level else s)


@main.command(context_settings=PASSTHROUGH)
@click.option("--once", is_flag=True, help="Run discovery now, process what it found, print a summary and exit.")
@click.option("--schedule", "schedule", metavar="NAME", help="With --once: only this schedule entry.")
@click.option("-v", "--verbose", is_flag=True, help="Show Celery's banner and start-up warnings and INFO logs.")
@click.option("--log-level", type=LOG_LEVELS, help="Log level of the worker and beat (default: FUNDCRAWL_LOG_LEVEL; "
              "with --once WARNING unless -v).")
@click.pass_context
def run(ctx: click.Context, once: bool, schedule: str | None, verbose: bool, log_level: str | None) -> None:
    """Run the embedded daemon (a worker and beat, as two supervised child processes) until interrupted.

    On SQLite it creates or upgrades its own schema. On start it prints each schedule entry's next run. If the
    worker or beat exits, the other is stopped and `run` exits 3; SIGTERM or Ctrl-C stops both and exits 0.

    With --once: discover every (or one) schedule entry now, process everything found through a real worker,
    print a summary and exit 0 when every report is stored, 1 when some failed for good, 3 when a partition or
    a service could not be reached, 130 when interrupted. Extra options are passed to the Celery worker.
    """
    if schedule and not once:
        raise click.UsageError("--schedule applies only with --once (the daemon runs every enabled entry on its "
                               "own schedule); run `fundcrawl run --once --schedule NAME`")
    s = settings()
    # run --once prints its own progress and summary: its log, like its worker's, is warnings unless asked.
    _configure_cli_logging(s, log_level or (("INFO" if verbose else "WARNING") if once else None))
    from crawler.schedules import load_schedules

    load_schedules(s.schedules)  # a schedule mistake is named before anything is created
    _ready(s, create_schema=True)
    # One daemon per data dir; the lock lives as long as this process (its children never inherit it).
    DataDirLock(s.data_dir).acquire("run --once" if once else "run")
    if once:
        from crawler.cli.once import run_once

        code = run_once(s, schedule, ctx.args, verbose=verbose, log_level=log_level)
        skip_final_collection()
        sys.exit(code)
    upcoming = check_beat(s)
    click.echo(f"fundcrawl daemon: {len(upcoming)} beat entries, times in the schedule's timezone:", err=True)
    print_next_runs(upcoming)
    _hint_history(s)
    sys.exit(supervise(s, ctx.args, verbose=verbose, log_level=log_level))


def _hint_history(s: Settings) -> None:
    """A database with nothing stored learns only what the schedule's recent windows hold: say where history
    comes from."""
    from crawler.storage import Store

    if Store.from_url(s.database).counts()["total"] == 0:
        click.echo("nothing is stored yet: the schedule picks up newly sent reports; for earlier years run "
                   "`fundcrawl backfill --report-types annual,interim,q1,q2,q3,q4 --years 2020-2025 --wait`",
                   err=True)


def supervise(s: Settings, extra: Sequence[str], *, verbose: bool, log_level: str | None) -> int:
    """Run a worker and a beat child until one of them exits or this process is told to stop.

    Two processes rather than Celery's ``worker -B``: an embedded beat that dies leaves a worker that looks
    healthy and idles forever; here the death of either stops the whole daemon with a non-zero exit code.
    """
    stop_on_signals()
    worker: subprocess.Popen[bytes] | None = None
    beat: subprocess.Popen[bytes] | None = None
    try:
        worker = start_child("worker", _celery_args(s, extra), verbose=verbose, log_level=log_level)
        beat = start_child("beat", [], verbose=verbose, log_level=log_level)
        while True:
            for name, child in (("worker", worker), ("beat", beat)):
                if child.poll() is not None:
                    click.echo(f"fundcrawl: the {name} process exited with code {child.returncode} (its log is "
                               "above); the daemon stops. Fix the cause and start `fundcrawl run` again.", err=True)
                    return EXIT_UNREACHABLE
            time.sleep(0.5)
    except Stop as stop:
        click.echo(f"fundcrawl: {stop} received; stopping the worker and beat", err=True)
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for process in (beat, worker):
            if process is not None:
                stop_process(process)


def _quiet(quiet: bool) -> list[str]:
    """Celery's global ``--quiet`` (no banner), and no superuser warning: the data is JSON-only, never pickle."""
    if not quiet:
        return []
    from celery.exceptions import SecurityWarning

    warnings.filterwarnings("ignore", category=SecurityWarning)
    return ["--quiet"]


@main.command(context_settings=PASSTHROUGH)
@click.option("-q", "--quiet", is_flag=True, help="No Celery banner or start-up warnings.")
@click.option("--owned-by-parent", is_flag=True, hidden=True,
              help="Started by `run`, which owns the data dir already.")
@click.pass_context
def worker(ctx: click.Context, quiet: bool, owned_by_parent: bool) -> None:
    """Start a Celery worker with fundcrawl's app and settings (extra options go to Celery).

    By default it consumes every queue (discovery, reports, reparse) with FUNDCRAWL_CONCURRENCY processes; run
    more of them, on more machines, to scale out. Example: fundcrawl worker -Q reports -c 4

    On the embedded SQLite broker it supervises that many independent consumer processes instead of a
    prefork pool (no kill of any of them can wedge the others), and owns the data dir (one daemon at a time).
    """
    s = settings()
    _ready(s, create_schema=s.embedded and not owned_by_parent)
    if s.embedded:
        if not owned_by_parent:
            DataDirLock(s.data_dir).acquire("worker")
        _configure_cli_logging(s)
        if s.metrics_port is not None:
            from crawler.telemetry import metrics

            metrics.prepare_multiprocess(s)  # before the consumers start: they inherit the folder
            metrics.start_metrics_server(s)
        # A restart resumes at once: what the previous daemon's processes held is released before anything starts.
        release_dead_work(s)
        Supervisor(s, [*(["--quiet"] if quiet else []), *ctx.args]).serve()
        skip_final_collection()
        return
    from crawler.celery_app import app

    app.worker_main([*_quiet(quiet), "worker", *_celery_args(s, ctx.args)])


@main.command(context_settings=PASSTHROUGH, hidden=True)
@click.option("-q", "--quiet", is_flag=True)
@click.pass_context
def consumer(ctx: click.Context, quiet: bool) -> None:
    """One embedded consumer process: a solo-pool Celery worker, started by the embedded worker's supervisor."""
    s = settings()
    from crawler.celery_app import app, enforce_limits_in_process
    from crawler.storage.broker import drain_in_slices

    enforce_limits_in_process()
    drain_in_slices(CONSUMER_DRAIN_SECONDS)
    app.worker_main([*_quiet(quiet), "worker", *_celery_args(s, ["-P", "solo", "-c", "1", *ctx.args])])


@main.command(context_settings=PASSTHROUGH)
@click.option("-q", "--quiet", is_flag=True, help="No Celery banner or start-up warnings.")
@click.pass_context
def beat(ctx: click.Context, quiet: bool) -> None:
    """Start Celery beat: emits each schedule entry's discovery on time (extra options go to Celery)."""
    s = settings()
    _ready(s, create_schema=s.embedded)
    from crawler.celery_app import app

    sys.exit(app.start([*_quiet(quiet), "beat", *ctx.args]) or 0)


@main.command()
@click.option("--schedule", "schedule", metavar="NAME", help="Only this schedule entry (default: every enabled one).")
@click.option("--timeout", "timeout", type=click.FloatRange(min=0), default=DISCOVER_WAIT_SECONDS, show_default=True,
              metavar="SECONDS", help="How long to wait for a worker to start each run; 0 returns once queued.")
def discover(schedule: str | None, timeout: float) -> None:
    """Ask the running fleet to run discovery now (enqueues on the configured broker).

    Waits until a worker has started each run; exit 3 when none did in time (no worker consuming the discovery
    queue, or every one busy): the request stays queued for the next worker.
    """
    s = settings()
    _ready(s)
    from crawler.schedules import load_schedules
    from crawler.tasks import send_discovery

    schedules = load_schedules(s.schedules)
    if schedule:
        schedules.get(schedule)
    names = [schedule] if schedule else [name for name, entry in schedules.entries.items() if entry.enabled]
    sent = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for name in names:
        send_discovery(name)
        click.echo(f"queued discovery for {name}")
    if not timeout or not names:
        return
    waiting = _wait_for_runs(s, set(names), sent, timeout)
    if waiting:
        fail(f"no worker started discovery of {', '.join(sorted(waiting))} within {timeout:g}s: "
             "start one (`fundcrawl worker` or `fundcrawl run`); the request stays queued", EXIT_UNREACHABLE)
    click.echo("a worker started every requested discovery (see `fundcrawl status`)")


def _wait_for_runs(s: Settings, names: set[str], since: dt.datetime, timeout: float) -> set[str]:
    """The entries no worker has started a run of since ``since``, after waiting up to ``timeout`` seconds."""
    from crawler.storage import Store

    store = Store.from_url(s.database)
    deadline = time.monotonic() + timeout
    waiting = set(names)
    while waiting and time.monotonic() < deadline:
        for run in store.runs.recent(50):
            started = run["started_at"]
            if started.tzinfo is None:
                started = started.replace(tzinfo=dt.UTC)
            if started >= since:
                waiting.discard(run["schedule"])
        if waiting:
            time.sleep(0.5)
    return waiting


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "fork_worker_process", "start_worker_process", "stop_process"]
