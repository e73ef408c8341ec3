"""An analyst works on the embedded database while the daemon crawls (SQLite only: the fleet's PostgreSQL has
no single-file lock and manages its own log).

First a long read transaction (a notebook that ran ``BEGIN; SELECT ...`` and went to lunch) pins an old
snapshot: SQLite cannot recycle its write-ahead log while it lasts, so the WAL grows; once it ends, the WAL
must shrink back instead of staying at its largest. Then a ``BEGIN EXCLUSIVE`` held longer than the busy
timeout: the daemon waits and says so. Nothing fails for good, nothing is lost or stored twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from crawler.storage.engine import SQLITE_JOURNAL_SIZE_LIMIT
from tests.chaos.battery import LONG, ChaosRun, assert_clean, lease_recovery
from tests.chaos.conftest import Deployment
from tests.replica import Replica

pytestmark = [pytest.mark.chaos, pytest.mark.waits]

REPORTS = 300 if LONG else 80
READ_FOR = 60 if LONG else 20
#: Longer than the daemon's SQLite busy timeout (30 s), so some writes give up a first time and wait again.
EXCLUSIVE_FOR = 40


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@pytest.mark.parametrize("deployment", [Deployment("embedded")], ids=["embedded"])
def test_an_analysts_transactions_are_waited_out_and_the_wal_shrinks_after(
        chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica], deployment: Deployment) -> None:
    replica = replica_factory(REPORTS, seed=808)
    run = chaos_run("sqlite-analyst", replica, deployment=deployment, env_extra={"FUNDCRAWL_RATE_LIMIT": "6"})
    database = run.daemon.data_dir / "fundcrawl.sqlite"
    wal = database.with_name(database.name + "-wal")
    run.start(workers=1, concurrency=2)
    run.wait("a few stored reports", lambda: run.counts().get("stored", 0) >= 5, timeout=90)

    analyst = sqlite3.connect(database, isolation_level=None, timeout=60)
    try:
        analyst.execute("BEGIN")
        pinned = analyst.execute("SELECT count(*) FROM reports WHERE state = 'stored'").fetchone()[0]
        before = run.counts().get("stored", 0)
        time.sleep(READ_FOR)
        stored_during_read = run.counts().get("stored", 0) - before
        wal_held = _size(wal)
        assert analyst.execute("SELECT count(*) FROM reports WHERE state = 'stored'").fetchone()[0] == pinned
        analyst.execute("COMMIT")

        analyst.execute("BEGIN EXCLUSIVE")
        locked = time.monotonic()
        time.sleep(EXCLUSIVE_FOR)
        analyst.execute("COMMIT")
        released = time.monotonic()
    finally:
        analyst.close()

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, lease_recovery() + EXCLUSIVE_FOR)
    run.wait("the WAL to be checkpointed back", lambda: _size(wal) <= SQLITE_JOURNAL_SIZE_LIMIT, timeout=60)
    logs = run.daemon.logs_text()
    figures = run.figures(oracle, drain, stored_during_read=stored_during_read, wal_held_bytes=wal_held,
                          wal_after_bytes=_size(wal), database_bytes=_size(database),
                          exclusive_seconds=round(released - locked, 1),
                          lock_waits_logged=logs.count("database is locked"))

    assert_clean(figures)
    assert figures["failed"] == {}, "an analyst's transaction must never fail a report"
    assert figures["stored"] == REPORTS
    assert stored_during_read > 0, "a reader must not stop the daemon"
    assert figures["lock_waits_logged"] > 0, "the daemon says it waits for the lock"
