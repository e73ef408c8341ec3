"""Work held by a process that no longer exists on this machine is released at once, not after its lease.

Each claim and each discovery run records its owner (host, pid, process start); a killed consumer or an
interrupted ``run --once`` leaves rows whose owner is gone, and the next reconciler pass or run takes them over.
"""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from crawler.storage import Store, owners
from crawler.storage.tables import discovery_runs as discovery_runs_table
from tests.storage.helpers import ref


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url, requeue_grace=dt.timedelta(seconds=600))


def _gone_process() -> str:
    """The identity of a process of this machine that has already exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return f"{owners.host()}:{child.pid}:1"


def test_a_dead_owners_leases_are_released_and_republished_at_once(store: Store) -> None:
    store.add_discovered([ref(1), ref(2), ref(3), ref(4)])
    store.mark_enqueued([1, 2, 3, 4])
    gone = _gone_process()
    assert store.claim(1, lease_seconds=600, max_attempts=8, owner=gone) is not None
    assert store.claim(2, lease_seconds=600, max_attempts=8) is not None  # this live process
    assert store.claim(3, lease_seconds=600, max_attempts=8, owner="elsewhere:1:1") is not None
    assert store.requeue_candidates() == []  # every lease is live by the clock, 4 was just enqueued

    assert store.release_dead_owners() == 1
    assert store.state(1)["state"] == "pending"
    assert store.requeue_candidates() == [1], "a released report is republished without waiting a grace period"
    assert store.claim(1, lease_seconds=600, max_attempts=8) is not None
    assert store.claim(2, lease_seconds=600, max_attempts=8) is None, "a live owner keeps its lease"
    assert store.claim(3, lease_seconds=600, max_attempts=8) is None, "another machine's owner is never judged"
    assert store.release_dead_owners() == 0


def test_a_reused_pid_with_another_start_time_is_a_dead_owner(store: Store) -> None:
    store.add_discovered([ref(7)])
    me = owners.this_process()
    impostor = me.rsplit(":", 1)[0] + ":1"  # this pid, but a process that started at another moment
    assert store.claim(7, lease_seconds=600, max_attempts=8, owner=impostor) is not None
    assert store.release_dead_owners() == 1


def test_a_run_whose_process_is_gone_is_closed_and_the_schedule_walks_again(db_url: str) -> None:
    store = Store.from_url(db_url)
    now = dt.datetime.now(dt.UTC)
    run_id = store.runs.start("daily", now, kind="once")
    assert run_id is not None
    assert store.runs.close_abandoned("daily") == 0, "its owner (this process) is alive"
    with store.engine.begin() as connection:
        connection.execute(discovery_runs_table.update().values(owner=_gone_process()))
    assert store.runs.in_progress("daily", started_after=now - dt.timedelta(hours=1))

    assert store.runs.close_abandoned("daily") == 1
    assert not store.runs.in_progress("daily", started_after=now - dt.timedelta(hours=1))
    [run] = store.runs.recent()
    assert run["status"] == "failed" and "ended without finishing" in run["error"]
