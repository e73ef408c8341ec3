"""Commands that run the daemon: ``run``, ``worker``, ``beat`` and ``discover``."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

import click

from crawler.cli import EXIT_FAILED, main, settings
from crawler.settings import Settings

log = logging.getLogger(__name__)

PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}
QUEUES = "discovery,reports"


def _celery_args(s: Settings, extra: Sequence[str]) -> list[str]:
    """Worker options fundcrawl always wants, unless the operator passed their own."""
    args = list(extra)
    if not any(a.startswith(("-Q", "--queues")) for a in args):
        args += ["-Q", QUEUES]
    if not any(a.startswith(("-c", "--concurrency")) for a in args):
        args += ["-c", str(s.concurrency)]
    if not any(a.startswith(("-n", "--hostname")) for a in args):
        # Several workers on one machine (a scaled Procfile) need distinct node names for inspect/control.
        args += ["-n", f"fundcrawl-{os.getpid()}@%h"]
    if s.embedded:
        # The SQLite broker has no fanout exchange: no mingle/gossip between workers (there is one machine).
        args += ["--without-mingle", "--without-gossip"]
    return args


def _ready(s: Settings) -> None:
    """Refuse to start against a missing or outdated schema; make the data dir."""
    from crawler.storage import ensure_current, make_engine

    s.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_current(make_engine(s.database))


@main.command(context_settings=PASSTHROUGH)
@click.option("--once", is_flag=True, help="Run discovery now, process what it found, print a summary and exit.")
@click.option("--schedule", "schedule", metavar="NAME", help="With --once: only this schedule entry.")
@click.pass_context
def run(ctx: click.Context, once: bool, schedule: str | None) -> None:
    """Run the embedded daemon (worker and beat in one process) until interrupted.

    With --once: discover every (or one) schedule entry now, process everything found through a real worker,
    print a summary and exit 0 when every report is stored, 1 when some failed for good, 2 on a configuration
    error. Extra options are passed to the Celery worker.
    """
    s = settings()
    _ready(s)
    if once:
        from crawler.cli.once import run_once

        sys.exit(run_once(s, schedule, ctx.args))
    from crawler.celery_app import app

    app.worker_main(["worker", "-B", *_celery_args(s, ctx.args)])


@main.command(context_settings=PASSTHROUGH)
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Start a Celery worker with fundcrawl's app and settings (extra options go to Celery).

    By default it consumes both queues (discovery, reports) with FUNDCRAWL_CONCURRENCY processes; run more of
    them, on more machines, to scale out. Example: fundcrawl worker -Q reports -c 4
    """
    s = settings()
    _ready(s)
    from crawler.celery_app import app

    app.worker_main(["worker", *_celery_args(s, ctx.args)])


@main.command(context_settings=PASSTHROUGH)
@click.pass_context
def beat(ctx: click.Context) -> None:
    """Start Celery beat: emits each schedule entry's discovery on time (extra options go to Celery)."""
    s = settings()
    _ready(s)
    from crawler.celery_app import app

    app.start(["beat", *ctx.args])


@main.command()
@click.option("--schedule", "schedule", metavar="NAME", help="Only this schedule entry (default: every enabled one).")
def discover(schedule: str | None) -> None:
    """Ask the running fleet to run discovery now (enqueues on the configured broker and returns)."""
    s = settings()
    _ready(s)
    from crawler.schedules import load_schedules
    from crawler.tasks import send_discovery

    schedules = load_schedules(s.schedules)
    if schedule:
        schedules.get(schedule)
    names = [schedule] if schedule else [name for name, entry in schedules.entries.items() if entry.enabled]
    for name in names:
        send_discovery(name)
        click.echo(f"queued discovery for {name}")


def start_worker_process(extra: Sequence[str], concurrency: int | None = None) -> subprocess.Popen[bytes]:
    """A real `fundcrawl worker` child process with the same environment."""
    args = [sys.executable, "-m", "crawler", "worker", "--loglevel", "WARNING", *extra]
    if concurrency is not None:
        args += ["-c", str(concurrency)]
    # The worker's banner and logs go to stderr: stdout is the command's own summary, for scripts.
    return subprocess.Popen(args, stdout=sys.stderr)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if process.poll() is None:
        process.kill()
        process.wait()


__all__ = ["EXIT_FAILED", "start_worker_process", "stop_process"]
