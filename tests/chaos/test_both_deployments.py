"""Crashes and interruptions, on the fleet (PostgreSQL + Redis) and on the embedded default (SQLite, ``run``).

(a) The kill pattern an OOM killer or an operator produces: every worker process SIGKILLed three times, 6 s apart,
with 15% transient faults on the site; the first round lands in the middle of a discovery walk. Embedded, the
daemon itself is SIGKILLed once more afterwards and restarted. What a user must see: every report stored exactly
once, nothing failed because of a crash, the killed walk closed (its process is gone) and walked again at the
next tick rather than blocking its schedule.

A killed ``run --once`` worker: the command forks its worker at its start; SIGKILL that worker (its consumers die
with it) while it is storing reports: the command starts a new worker process and ends with every report stored
once, exit 0.

Interrupted discovery: ``run --once`` SIGKILLed mid-walk, then Ctrl-C'd mid-walk, then run again: the third run
lists every report (nothing is skipped as "still walking"), stores them all once and exits 0; both interrupted
runs are closed in the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import psutil
import pytest

from tests.chaos.battery import ChaosRun, assert_clean, drain_deadline
from tests.chaos.conftest import Deployment
from tests.replica import Replica

pytestmark = pytest.mark.chaos

REPORTS = 300
ROUNDS, ROUND_EVERY = 3, 6.0
#: Worker processes of the deployment under the kill pattern: every round kills all of them.
CONCURRENCY = 2
#: Each listing page answers this late the first time it is asked for: a walk of 15 pages lasts ~20 s, long
#: enough to be killed in the middle of.
SLOW_LISTING = 1.3


def _slow_walk(replica: Replica) -> None:
    replica.set_config(stall_seconds=SLOW_LISTING)
    replica.set_faults(1.0, {"stall": 1.0}, paths=["search"], max_failures=1, seed=17)


def _walking(run: ChaosRun) -> bool:
    """A discovery run is in progress and has inserted some, not all, reports."""
    running = run.query("SELECT count(*) FROM discovery_runs WHERE status = 'running' AND kind = 'scheduled'")
    inserted = run.counts()
    return running[0][0] > 0 and 0 < sum(inserted.values()) < REPORTS


def _abandoned_runs(run: ChaosRun) -> int:
    return int(run.query("SELECT count(*) FROM discovery_runs WHERE status = 'failed' "
                         "AND error LIKE '%ended without finishing the walk%'")[0][0])


def test_kill_every_worker_process_three_times(deployment: Deployment, chaos_run: Callable[..., ChaosRun],
                                               replica_factory: Callable[..., Replica]) -> None:
    replica = replica_factory(REPORTS, seed=1701)
    _slow_walk(replica)
    run = chaos_run("a-kill-pattern", replica, deployment=deployment, env_extra={"FUNDCRAWL_RATE_LIMIT": "20"})
    run.start(workers=1, concurrency=CONCURRENCY)
    run.wait("a discovery walk in progress", lambda: _walking(run), timeout=90, poll=0.3)
    time.sleep(2)  # well into the walk

    for number in range(ROUNDS):
        if number:
            time.sleep(ROUND_EVERY)
        killed = run.kill_children(at_least=CONCURRENCY)
        assert killed, f"round {number}: no worker process to kill"
        if number == 0:
            # From now on the site fails 15% of report requests once (the walk's slow pages are done with).
            replica.set_faults(0.15, paths=["redirect", "page"], max_failures=1, seed=1701)
    if run.embedded:
        time.sleep(ROUND_EVERY)
        old = run.pid("worker0")
        run.kill_main()  # the whole daemon: the next one resumes what this one's consumers held
        run.wait_restarted("worker0", old)
    last_fault = time.monotonic()

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    figures = run.figures(oracle, drain, abandoned_walks=_abandoned_runs(run),
                          released_at_once=run.daemon.logs_text().count("that no longer exist"),
                          seconds_since_last_fault=round(time.monotonic() - last_fault, 1))

    assert_clean(figures)
    assert figures["failed"] == {}, "a crash must never fail a report"
    assert figures["stored"] == REPORTS
    assert figures["abandoned_walks"] >= 1, "the killed walk must be closed and walked again"
    assert figures["kills"]["child"] >= ROUNDS * CONCURRENCY


def _run_once(run: ChaosRun, name: str) -> subprocess.Popen[bytes]:
    return run.daemon.start(name, "run", "--once", "-c", "2")


def test_run_once_replaces_its_killed_worker(deployment: Deployment, chaos_run: Callable[..., ChaosRun],
                                             replica_factory: Callable[..., Replica]) -> None:
    replica = replica_factory(REPORTS, seed=1703)
    run = chaos_run("once-worker-killed", replica, deployment=deployment, env_extra={"FUNDCRAWL_RATE_LIMIT": "20"})
    run.daemon.command("db", "upgrade")
    process = _run_once(run, "once")
    command = psutil.Process(process.pid)
    run.wait("a first stored report", lambda: run.counts().get("stored", 0) >= 1, timeout=90, poll=0.2)
    [worker] = command.children()
    assert worker.cmdline() == command.cmdline(), "the first worker is forked from the command, not a new interpreter"
    consumers = worker.children()
    assert consumers, "the forked worker runs its consumers (embedded) or its pool (fleet)"
    stored_at_kill = run.counts().get("stored", 0)
    worker.kill()
    run.kills["main"] += 1
    if run.embedded:  # consumers die with their worker; a fleet worker's pool children leave on their own
        run.wait("the killed worker's consumers to die", lambda: all(_gone(c) for c in consumers), timeout=10,
                 poll=0.1)
    started = time.monotonic()
    assert process.wait(drain_deadline()) == 0, run.daemon.logs_text()[-3000:]
    drain = time.monotonic() - started

    oracle = replica.oracle()
    figures = run.figures(oracle, drain, stored_at_kill=stored_at_kill)
    assert_clean(figures)
    assert stored_at_kill < REPORTS, "the worker was killed in the middle of the work"
    assert figures["stored"] == REPORTS and figures["failed"] == {}
    assert "starting a new one" in run.daemon.logs_text(), "the command says it replaced its worker"


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _interrupt_mid_walk(run: ChaosRun, name: str, signum: int) -> int:
    """Start ``run --once``, signal its whole process group (a terminal's Ctrl-C does the same) mid-walk."""
    before = sum(run.counts().values())
    process = _run_once(run, name)
    run.wait("the walk to insert reports", lambda: before < sum(run.counts().values()) < REPORTS, timeout=90,
             poll=0.3)
    os.killpg(process.pid, signum)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"run --once did not stop within 60 s of {signal.Signals(signum).name}") from None


def test_interrupted_run_once_reruns_and_discovers_everything(
        deployment: Deployment, chaos_run: Callable[..., ChaosRun],
        replica_factory: Callable[..., Replica]) -> None:
    replica = replica_factory(REPORTS, seed=1702)
    _slow_walk(replica)
    run = chaos_run("interrupted-discovery", replica, deployment=deployment)
    run.daemon.command("db", "upgrade")

    killed = _interrupt_mid_walk(run, "once-killed", signal.SIGKILL)
    # max_failures=1 per URL: the second walk would be fast; slow it down again for the Ctrl-C.
    _slow_walk(replica)
    interrupted = _interrupt_mid_walk(run, "once-ctrl-c", signal.SIGINT)
    replica.clear_faults()
    started = time.monotonic()
    final = run.daemon.command("run", "--once", "-c", "2", timeout=drain_deadline())
    drain = time.monotonic() - started

    runs = {row[0]: (row[1], row[2] or "") for row in run.query(
        "SELECT id, status, error FROM discovery_runs WHERE kind = 'once' ORDER BY id")}
    oracle = replica.oracle()
    figures = run.figures(oracle, drain, killed_exit=killed, interrupted_exit=interrupted,
                          runs=[status for status, _ in runs.values()], final_summary=final.stdout.strip()[-200:])

    assert_clean(figures)
    assert figures["stored"] == REPORTS and figures["failed"] == {}
    assert f"listed {REPORTS}," in final.stdout, "the rerun must walk the whole partition again"
    assert [status for status, _ in runs.values()] == ["failed", "failed", "ok"], runs
    errors = [error for _, error in runs.values()]
    assert "ended without finishing the walk" in errors[0], errors  # SIGKILL: closed by the next run
    assert errors[1] == "Stop: SIGINT", errors  # Ctrl-C: closed by the interrupted run itself
    assert interrupted == 130, "run --once reports an interruption by Ctrl-C as 130"
