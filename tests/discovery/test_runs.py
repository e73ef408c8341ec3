"""Scheduled discovery runs: one run per schedule tick, and never two walks of one entry at once."""

from __future__ import annotations

import datetime as dt

from crawler.discovery.runs import run_schedule_entry
from crawler.processing import Runtime
from tests.replica import Replica


def test_one_run_per_tick_and_never_two_walks_at_once(replica_runtime: tuple[Runtime, Replica]) -> None:
    rt, _replica = replica_runtime
    published: list[int] = []
    first = run_schedule_entry(rt, "tick", published.extend)
    again = run_schedule_entry(rt, "tick", published.extend)
    assert first["new"] == 5 and sorted(published) == sorted(set(published)) and len(published) == 5
    assert again["skipped"] is True  # same hourly tick: another beat, or a redelivered message

    stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert rt.store.runs.start("tick", stale, "manual") is not None  # left "running"
    manual = run_schedule_entry(rt, "tick", published.extend, kind="manual")
    assert manual["skipped"] is True and len(published) == 5
