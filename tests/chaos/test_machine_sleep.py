"""The machine sleeps mid-crawl (a laptop lid closed): every daemon process is frozen with SIGSTOP for longer
than a lease, then thawed. On waking, wall-clock time has jumped past every lease and retry time the daemon
set; the reconciler and the running tasks meet again. Nothing may fail for good, be lost or be stored twice.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import psutil
import pytest

from tests.chaos.battery import SETTINGS, ChaosRun, assert_clean, drain_deadline
from tests.chaos.conftest import Deployment
from tests.replica import Replica

pytestmark = [pytest.mark.chaos, pytest.mark.waits]

REPORTS = 60
#: Frozen past a lease (and a retry countdown), as a sleeping machine is.
ASLEEP_FOR = SETTINGS["lease_seconds"] + 10


def _freeze(run: ChaosRun, sig: signal.Signals) -> int:
    """Send ``sig`` to every process of the deployment (each role's main process and all its descendants)."""
    sent = 0
    for role in run.roles:
        try:
            main = psutil.Process(run.pid(role))
            processes = [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            try:
                os.kill(process.pid, sig)
                sent += 1
            except ProcessLookupError:
                continue
    return sent


def test_a_sleeping_machine_wakes_up_and_loses_nothing(
        chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica], deployment: Deployment) -> None:
    replica = replica_factory(REPORTS, seed=909)
    run = chaos_run("machine-sleep", replica, deployment=deployment, env_extra={"FUNDCRAWL_RATE_LIMIT": "4"})
    run.start(workers=1, concurrency=2)
    run.wait("a few stored reports", lambda: run.counts().get("stored", 0) >= 5, timeout=90)

    frozen = _freeze(run, signal.SIGSTOP)
    try:
        time.sleep(ASLEEP_FOR)
    finally:
        _freeze(run, signal.SIGCONT)
    woke = time.monotonic()

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    figures = run.figures(oracle, drain, asleep_seconds=ASLEEP_FOR, frozen_processes=frozen,
                          drained_after_wake_seconds=round(time.monotonic() - woke, 1))

    assert_clean(figures)
    assert frozen >= 3, "the daemon's processes were frozen"
    assert figures["failed"] == {}, "sleeping must never fail a report"
    assert figures["stored"] == REPORTS
    assert figures["restarts"] == {}
