"""Run records of schedule entries: one row per (entry, tick), which is also what keeps a tick from running twice."""

from __future__ import annotations

import datetime as dt

import pytest

from crawler.storage import Store
from tests.storage.helpers import NOW

TICK = dt.datetime(2025, 4, 21, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url, clock=lambda: NOW)


def test_a_tick_starts_once_and_its_run_keeps_its_figures(store: Store) -> None:
    run_id = store.runs.start("daily", TICK)
    assert run_id is not None
    assert store.runs.start("daily", TICK) is None, "the same tick again: another beat, or a redelivery"
    assert store.runs.start("weekly", TICK) is not None, "another entry's tick is its own"
    assert store.runs.in_progress("daily", started_after=NOW - dt.timedelta(hours=1))
    assert not store.runs.in_progress("daily", started_after=NOW), "only runs started after the moment count"

    store.runs.finish(run_id, status="incomplete", partitions_walked=3, listed=120, new=7, requests=9,
                      error="FB030010/2025: did not converge")

    assert not store.runs.in_progress("daily", started_after=NOW - dt.timedelta(hours=1))
    [run] = [run for run in store.runs.recent() if run["id"] == run_id]
    assert (run["schedule"], run["kind"], run["status"]) == ("daily", "scheduled", "incomplete")
    assert (run["partitions"], run["listed"], run["new"], run["requests"]) == (3, 120, 7, 9)
    assert run["error"] == "FB030010/2025: did not converge"
    assert run["started_at"] == NOW and run["finished_at"] == NOW
    assert store.runs.last_started("daily") == NOW
    assert store.runs.last_started("never") is None


def test_recent_runs_come_newest_first(db_url: str) -> None:
    moments = iter([NOW, NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=2)])
    store = Store.from_url(db_url, clock=lambda: next(moments))
    for hour in range(3):
        store.runs.start("daily", TICK + dt.timedelta(hours=hour))

    assert [run["tick"] for run in store.runs.recent(2)] == [TICK + dt.timedelta(hours=2),
                                                           TICK + dt.timedelta(hours=1)]


def test_the_upkeep_takes_its_hour_once_and_keeps_its_counts(store: Store) -> None:
    run_id = store.runs.try_lock_upkeep("hourly-upkeep", TICK)
    assert run_id is not None
    assert store.runs.try_lock_upkeep("hourly-upkeep", TICK) is None, "a second reconciler in the same hour"

    store.runs.finish_upkeep(run_id, late_reports=2, layout_signals=5)

    [run] = store.runs.recent()
    assert (run["schedule"], run["kind"], run["status"]) == ("hourly-upkeep", "upkeep", "ok")
    assert (run["listed"], run["new"], run["partitions"], run["requests"]) == (2, 5, 0, 0)
    assert store.runs.try_lock_upkeep("hourly-upkeep", TICK + dt.timedelta(hours=1)) is not None
