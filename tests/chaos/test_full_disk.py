"""A full disk mid-crawl, then space freed again: a condition to wait out, never a crash and never an exit.

Embedded default: the whole data dir (the SQLite database, which holds the pages, and the SQLite broker) sits on
a size-capped tmpfs that the test fills while the daemon crawls. While the disk is full the daemon keeps running
and says what it waits for; no report fails for it; once the filler is deleted every report ends stored once
with the site's exact bytes, without waiting out a lease. (The fleet keeps its pages in PostgreSQL, whose
``disk_full`` error takes the same path; the battery does not fill its server's disk.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.chaos.battery import LONG, ChaosRun, assert_clean, lease_recovery
from tests.chaos.conftest import Deployment
from tests.diskspace import small_disk
from tests.e2e.harness import schedule_yaml
from tests.replica import Replica

pytestmark = [pytest.mark.chaos, pytest.mark.waits]

REPORTS = 200 if LONG else 60
FULL_FOR = 60 if LONG else 15


@pytest.mark.parametrize("deployment", [Deployment("embedded")], ids=["embedded"])
def test_a_full_disk_is_waited_out_and_nothing_is_lost(
        chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica], deployment: Deployment) -> None:
    replica = replica_factory(REPORTS, seed=707)
    run = chaos_run("full-disk", replica, deployment=deployment, schedule=schedule_yaml(every="5s"),
                    env_extra={"FUNDCRAWL_RATE_LIMIT": "8"})
    with small_disk(run.daemon.data_dir, "64m") as disk:
        try:
            run.start(workers=1, concurrency=2)
            run.wait("a few stored reports", lambda: run.counts().get("stored", 0) >= 5, timeout=90)
            disk.fill()
            filled = time.monotonic()
            run.wait("the daemon to say it waits for disk space",
                     lambda: "disk is full" in (logs := run.daemon.logs_text()) or "no space left" in logs,
                     timeout=60, poll=0.5)
            stuck = run.counts().get("stored", 0)
            time.sleep(max(0.0, FULL_FOR - (time.monotonic() - filled)))
            alive = all(process.poll() is None for _args, process in run.roles.values())
            failed_while_full = run.counts().get("failed", 0)
            disk.free()
            freed = time.monotonic()

            oracle = replica.oracle()
            drain = run.wait_terminal(oracle, lease_recovery())
            figures = run.figures(oracle, drain, full_for_seconds=round(freed - filled, 1),
                                  stored_when_filled=stuck, resumed_within_seconds=round(time.monotonic() - freed, 1))
        finally:
            run.close()

    assert_clean(figures)
    assert alive and figures["restarts"] == {}, "a full disk must not stop the daemon"
    assert failed_while_full == 0 and figures["failed"] == {}, "a full disk must never fail a report"
    assert figures["stored"] == REPORTS
    assert figures["temp_debris"] == 0
