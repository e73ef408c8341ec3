"""The Store's state machine: discovery inserts, claims, leases, poison, failures, replay, status."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading

import pytest

from crawler.storage import Store
from tests.fakes.clock import FakeUtcClock
from tests.storage.helpers import item, ref

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FakeUtcClock:
    return FakeUtcClock(NOW)


@pytest.fixture
def store(db_url: str, clock: FakeUtcClock) -> Store:
    return Store.from_url(db_url, clock=clock, requeue_grace=dt.timedelta(seconds=60))


def test_add_discovered_returns_only_ids_it_inserted(store: Store) -> None:
    assert store.add_discovered([ref(3), ref(1), ref(2), ref(1)]) == [1, 2, 3]
    assert store.add_discovered([ref(2), ref(3), ref(4)]) == [4]
    assert store.add_discovered([]) == []
    assert store.known_ids([1, 4, 5, 6]) == {1, 4}
    assert store.counts() == {"total": 4, "stored": 0, "failed": 0, "pending": 4}


def _discover_in_child(url: str, ids: list[int]) -> list[int]:
    store = Store.from_url(url)
    found: list[int] = []
    for start in range(0, len(ids), 25):
        found += store.add_discovered([ref(i) for i in ids[start : start + 25]])
    return found


def test_two_processes_discovering_the_same_reports_get_disjoint_ids(store: Store, db_url: str) -> None:
    ids = list(range(1, 401))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        first, second = pool.starmap(_discover_in_child, [(db_url, ids), (db_url, list(reversed(ids)))])

    assert not set(first) & set(second)
    assert sorted(first + second) == ids
    assert store.counts()["total"] == 400


def test_claim_takes_a_pending_report_once(store: Store) -> None:
    store.add_discovered([ref(1)])

    claim = store.claim(1, lease_seconds=600, max_attempts=3, token="task-a")

    assert claim is not None and claim.attempt == 1
    assert claim.lease_until == NOW + dt.timedelta(seconds=600)
    assert claim.listing["fund_code"] == "000001" and claim.listing["send_date"] == "2025-04-21"
    assert store.claim(1, lease_seconds=600, max_attempts=3, token="task-b") is None
    assert store.state(1)["state"] == "fetching"


def test_two_concurrent_claimers_one_wins(store: Store) -> None:
    store.add_discovered([ref(i) for i in range(1, 21)])
    barrier = threading.Barrier(2)
    wins: dict[str, list[int]] = {"a": [], "b": []}

    def claimer(name: str) -> None:
        barrier.wait()
        for upload_info_id in range(1, 21):
            if store.claim(upload_info_id, lease_seconds=600, max_attempts=3, token=name):
                wins[name].append(upload_info_id)

    threads = [threading.Thread(target=claimer, args=(name,)) for name in wins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(wins["a"] + wins["b"]) == list(range(1, 21))
    assert all(store.state(i)["attempts"] == 1 for i in range(1, 21))


def test_an_expired_lease_can_be_taken_over(store: Store, clock: FakeUtcClock) -> None:
    store.add_discovered([ref(1)])
    assert store.claim(1, lease_seconds=60, max_attempts=5, token="crashed")
    clock.advance(61)

    takeover = store.claim(1, lease_seconds=60, max_attempts=5, token="second")

    assert takeover is not None and takeover.attempt == 2
    # The first task's late release must not undo the second task's claim.
    assert not store.release(1, error="late", retry_at=clock.now, token="crashed")
    assert store.state(1)["state"] == "fetching"


def test_a_retry_of_the_same_task_may_reclaim_its_own_lease(store: Store) -> None:
    """The database was down when the attempt failed, so it could not release; its Celery retry (same task
    id) must not wait for the lease to run out, while any other task still must."""
    store.add_discovered([ref(1)])
    assert store.claim(1, lease_seconds=600, max_attempts=5, token="task-1")

    assert store.claim(1, lease_seconds=600, max_attempts=5, token="task-2") is None
    retry = store.claim(1, lease_seconds=600, max_attempts=5, token="task-1")
    assert retry is not None and retry.attempt == 2


def test_poison_after_max_attempts(store: Store, clock: FakeUtcClock) -> None:
    store.add_discovered([ref(1)])
    for attempt in (1, 2, 3):
        claim = store.claim(1, lease_seconds=60, max_attempts=3)
        assert claim is not None and claim.attempt == attempt
        clock.advance(61)  # the worker died: the lease runs out

    assert store.claim(1, lease_seconds=60, max_attempts=3) is None

    state = store.state(1)
    assert state["state"] == "failed" and state["failure_reason"] == "poison" and state["attempts"] == 3
    assert store.failed_ids("poison") == [1]


def test_terminal_reports_are_never_claimed(store: Store) -> None:
    store.add_discovered([ref(1), ref(2)])
    store.save_report(item(1), "aa/aa/x.html")
    store.mark_failed(2, reason="http_404", error="404 Not Found")

    assert store.claim(1, lease_seconds=60, max_attempts=3) is None
    assert store.claim(2, lease_seconds=60, max_attempts=3) is None
    assert store.state(1)["state"] == "stored" and store.state(2)["state"] == "failed"


def test_release_returns_the_report_to_pending_until_retry(store: Store, clock: FakeUtcClock) -> None:
    store.add_discovered([ref(1)])
    clock.advance(3600)  # long after discovery: only the lease holds the reconciler back
    store.claim(1, lease_seconds=600, max_attempts=5, token="t")
    retry_at = clock.now + dt.timedelta(seconds=120)

    assert store.release(1, error="SourceError: 503", retry_at=retry_at, token="t")

    state = store.state(1)
    assert (
        state["state"] == "pending"
        and state["lease_until"] == retry_at
        and state["last_error"] == "SourceError: 503"
    )
    assert store.requeue_candidates(now=clock.now) == []
    assert store.requeue_candidates(now=retry_at) == [1]
    # The Celery retry itself may claim it any time.
    assert store.claim(1, lease_seconds=600, max_attempts=5) is not None


def test_requeue_candidates_wait_for_the_grace_period(store: Store, clock: FakeUtcClock) -> None:
    store.add_discovered([ref(1), ref(2)])
    store.claim(2, lease_seconds=300, max_attempts=5)

    assert store.requeue_candidates(now=clock.now) == []
    clock.advance(61)
    assert store.requeue_candidates(now=clock.now) == [1]  # 2 is leased

    store.mark_enqueued([1])
    assert store.requeue_candidates(now=clock.now) == []
    clock.advance(300)
    assert store.requeue_candidates(now=clock.now) == [2, 1]  # longest-waiting first
    assert store.requeue_candidates(now=clock.now, limit=1) == [2]
    assert store.requeue_candidates(now=clock.now, enqueued_before=NOW - dt.timedelta(days=1)) == []


def test_mark_failed_records_reason_and_error_but_never_unstores(store: Store) -> None:
    store.add_discovered([ref(1), ref(2)])
    store.save_report(item(2), "x")

    assert store.mark_failed(1, reason="too_large", error="body over 10 MiB" + "!" * 5000)
    assert not store.mark_failed(2, reason="http_404", error="gone")
    with pytest.raises(ValueError, match="unknown failure reason"):
        store.mark_failed(1, reason="database_down", error="")

    failure = store.recent_failures(5)
    assert [(f["upload_info_id"], f["failure_reason"]) for f in failure] == [(1, "too_large")]
    assert len(failure[0]["last_error"]) == 2000
    assert store.state(2)["state"] == "stored"


def test_replay_resets_failed_reports_with_a_fresh_budget(store: Store) -> None:
    store.add_discovered([ref(1), ref(2)])
    store.claim(1, lease_seconds=60, max_attempts=1)
    store.mark_failed(1, reason="parse_error", error="no tables")

    assert store.reset_failed(store.failed_ids()) == 1

    state = store.state(1)
    assert state["state"] == "pending" and state["attempts"] == 0 and state["failure_reason"] is None
    assert store.claim(1, lease_seconds=60, max_attempts=1) is not None


def test_status_queries(store: Store, clock: FakeUtcClock) -> None:
    store.add_discovered([ref(1), ref(2)])
    clock.advance(10)
    store.add_discovered([ref(3), ref(4)])
    store.claim(3, lease_seconds=60, max_attempts=3)
    store.save_report(item(1), "x")
    store.mark_failed(2, reason="http_404", error="404")

    assert store.counts() == {"total": 4, "stored": 1, "failed": 1, "pending": 2}
    oldest = store.oldest_pending()
    assert oldest is not None and oldest["upload_info_id"] == 3 and oldest["state"] == "fetching"
    assert oldest["discovered_at"] == NOW + dt.timedelta(seconds=10)
    assert store.attempts(3) == 1 and store.attempts(99) is None
    assert store.listing(99) is None
    assert store.listing(4)["fund_short_name"] == "测试基金"


def test_timestamps_are_timezone_aware_utc(store: Store) -> None:
    store.add_discovered([ref(1)])
    state = store.state(1)
    assert state["enqueued_at"] == NOW and state["enqueued_at"].tzinfo is dt.UTC


def test_a_refunded_release_never_brings_the_report_closer_to_poison(store: Store) -> None:
    """A full disk or a locked database is the machine's fault: however often it spoils an execution, the
    report keeps its whole budget and is never failed for it."""
    store.add_discovered([ref(1)])
    for _ in range(5):
        claim = store.claim(1, lease_seconds=600, max_attempts=2, token="t")
        assert claim is not None and claim.attempt == 1
        assert store.release(1, error="OutOfSpaceError: disk full", retry_at=NOW, token="t", refund=True)
    state = store.state(1)
    assert state["state"] == "pending" and state["attempts"] == 0
