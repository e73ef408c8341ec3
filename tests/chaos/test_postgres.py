"""(c) PostgreSQL stopped for 30 s in the middle of a run, once with ``pg_ctl stop -m fast`` and once with
``-m immediate`` (crash recovery at the next start).

A database outage is never a reason to fail a report: tasks retry, and a retry re-claims the lease its
failed attempt could not release. At the end every report is stored once and none is failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.chaos.battery import LONG, ChaosRun, assert_clean, drain_deadline
from tests.chaos.services import PostgresCluster, RedisServer
from tests.replica import Replica

pytestmark = pytest.mark.chaos

REPORTS = 300 if LONG else 60
WAVE = 100 if LONG else 30
OUTAGE_SECONDS = 30


def test_postgres_outages_fast_and_immediate(chaos_run: Callable[..., ChaosRun],
                                             replica_factory: Callable[..., Replica], pg_url: str,
                                             pg_cluster: PostgresCluster, redis_server: RedisServer) -> None:
    replica = replica_factory(REPORTS, seed=303)
    run = chaos_run("c-postgres", replica, pg_url, redis_server.url(), env_extra={"FUNDCRAWL_RATE_LIMIT": "8"})
    run.start(workers=1, concurrency=2)
    run.wait("first stored reports", lambda: run.counts().get("stored", 0) >= 10, timeout=90)

    resume = {}
    for mode in ("fast", "immediate"):
        replica.publish(WAVE, "FB030010", "2025")
        time.sleep(4)
        pg_cluster.stop(mode)
        time.sleep(OUTAGE_SECONDS)
        pg_cluster.start()
        back = time.time()
        run.wait("storing to resume", lambda back=back: run.stored_since(back) > 0, timeout=120, poll=0.5)
        resume[mode] = round(time.time() - back, 1)
    last_fault = time.monotonic()

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    logs = run.daemon.logs_text()
    db_errors_logged = logs.count("database unavailable")
    figures = run.figures(oracle, drain, resume_seconds=resume, db_errors_logged=db_errors_logged,
                          retries_sent_without_release=logs.count("retry not recorded"),
                          seconds_since_last_fault=round(time.monotonic() - last_fault, 1))

    assert_clean(figures)
    assert figures["failed"] == {}, "no report may fail because of the database"
    assert figures["stored"] == REPORTS + 2 * WAVE
    assert db_errors_logged > 0, "the outage never reached the workers"
