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


def test_ticks_the_clock_steps_back_to_run_again_once_each(store: Store) -> None:
    margin = dt.timedelta(minutes=5)

    def start(hours: int) -> int | None:
        return store.runs.start("hourly", TICK + dt.timedelta(hours=hours), stepped_back_after=margin)

    assert all(start(hours) is not None for hours in range(3))
    assert start(2) is None, "the newest tick again: another beat or a redelivery"
    # The clock steps back two hours: the slots of TICK + 1 h and + 2 h come up again, hours later in real time.
    for hours in (1, 2):
        assert start(hours) is not None, "a slot run before the step runs again, or discovery waits out the step"
        assert start(hours) is None, "a second beat after the step still finds the tick taken"
    hourly = [run for run in store.runs.recent(10) if run["schedule"] == "hourly"]
    assert len(hourly) == 5, "the runs of the slots before the step keep their records"
    on_the_grid = sorted(run["tick"] for run in hourly if run["tick"].microsecond == 0)
    assert on_the_grid == [TICK + dt.timedelta(hours=hours) for hours in range(3)]


def test_a_tick_behind_by_less_than_the_margin_stays_taken(store: Store) -> None:
    """Beats on two machines whose clocks differ by seconds: the one behind never walks a tick twice."""
    margin = dt.timedelta(minutes=5)
    assert store.runs.start("every-3s", TICK, stepped_back_after=margin) is not None
    assert store.runs.start("every-3s", TICK + dt.timedelta(seconds=3), stepped_back_after=margin) is not None
    assert store.runs.start("every-3s", TICK, stepped_back_after=margin) is None


def test_the_upkeep_runs_again_in_an_hour_the_clock_stepped_back_to(store: Store) -> None:
    for hour in range(4):
        assert store.runs.try_lock_upkeep("hourly-upkeep", TICK + dt.timedelta(hours=hour)) is not None
    assert store.runs.try_lock_upkeep("hourly-upkeep", TICK + dt.timedelta(hours=1)) is not None
    assert store.runs.try_lock_upkeep("hourly-upkeep", TICK + dt.timedelta(hours=1)) is None
