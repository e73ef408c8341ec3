"""Scheduled discovery: only what is new is returned, and an unchanged site costs one request per partition."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from crawler.discovery import DiscoveryPlan, discover
from crawler.sources.eid import EidClient
from crawler.storage import PartitionKey, Store, make_engine, upgrade
from tests.discovery.conftest import FAST_RETRY, log_position, publish, search_requests, stored_ids
from tests.replica import Replica
from tests.storage.helpers import Q1

TODAY = dt.date(2025, 4, 22)  # last day of the replica's Q1-2025 disclosure window (Apr 14-22)


def on_site(replica: Replica, since: dt.date | None = None) -> list[int]:
    return sorted(r["upload_info_id"] for r in replica.catalogue()
                  if since is None or dt.date.fromisoformat(r["send_date"]) >= since)


@pytest.mark.parametrize("days", [7, None], ids=["send-window", "whole-partition"])
def test_a_second_run_returns_only_the_newly_published_reports(replica: Replica, client: EidClient,
                                                                 any_store: Store, days: int | None) -> None:
    publish(replica, 600)
    plan = DiscoveryPlan((Q1,), sent_within_days=days)
    first = discover(client, any_store, plan, TODAY)
    window_start = TODAY - dt.timedelta(days=days) if days else None
    assert first.complete and sorted(first.new_ids) == on_site(replica, window_start)

    fresh = publish(replica, 45, send_from=TODAY.isoformat(), send_to=TODAY.isoformat())
    before = log_position(replica)
    second = discover(client, any_store, plan, TODAY)

    assert sorted(second.new_ids) == sorted(fresh)
    day_total = sum(1 for r in replica.catalogue() if r["send_date"] == TODAY.isoformat())
    # The changed day is walked again; every other day costs at most a few total checks.
    assert search_requests(replica, before) == second.requests <= math.ceil(day_total / 20) + 4

    before = log_position(replica)
    third = discover(client, any_store, plan, TODAY)
    assert third.new_ids == [] and third.complete
    assert search_requests(replica, before) == 1  # nothing new: one page-0 total check


def test_checkpoints_record_each_send_date_of_the_window(replica: Replica, client: EidClient, store: Store) -> None:
    publish(replica, 300)
    discover(client, store, DiscoveryPlan((Q1,), sent_within_days=3), TODAY)

    checkpoints = store.checkpoints.between(Q1, None, None)
    per_day: dict[dt.date, int] = {}
    for report in replica.catalogue():
        day = dt.date.fromisoformat(report["send_date"])
        if day >= TODAY - dt.timedelta(days=3):
            per_day[day] = per_day.get(day, 0) + 1
    assert {day: cp.site_total for day, cp in checkpoints.items()} == per_day
    assert all(cp.complete for cp in checkpoints.values())


def test_a_schedule_spec_resolves_current_and_previous_years(replica: Replica, client: EidClient,
                                                              store: Store) -> None:
    from crawler.schedules import DiscoverSpec

    ids_2024 = publish(replica, 40, year="2024")
    ids_2025 = publish(replica, 40, year="2025")
    spec = DiscoverSpec(report_types=["q1"], years=["current", "previous"])

    result = discover(client, store, spec, TODAY)

    assert sorted(result.new_ids) == sorted(ids_2024 + ids_2025)
    assert set(result.totals) == {"FB030010/2025", "FB030010/2024"}


def test_transient_faults_on_a_fifth_of_searches_still_find_everything(replica: Replica, client: EidClient,
                                                                        store: Store) -> None:
    publish(replica, 400)
    replica.set_faults(0.2, ["http_500", "http_503", "http_429", "error_page", "reset", "truncate"],
                    paths=["search"], max_failures=1)

    result = discover(client, store, DiscoveryPlan((Q1,)), TODAY, policy=FAST_RETRY)

    assert result.complete, result.summary()
    assert sorted(stored_ids(store)) == on_site(replica)


def test_an_open_circuit_stops_the_run_without_hammering_the_site(replica: Replica, tmp_path: Path) -> None:
    from crawler.sources.breaker import FileCircuitBreaker

    publish(replica, 100)
    publish(replica, 30, year="2024")
    breaker = FileCircuitBreaker(tmp_path / "breaker.json", threshold=3, window=60, cooldown=300)
    url = f"sqlite:///{tmp_path / 'circuit.sqlite'}"
    upgrade(url)
    store = Store(make_engine(url))
    plan = DiscoveryPlan((PartitionKey("FB030010", "2024"), Q1))
    with EidClient(replica.url, "fundcrawl-test/1", breaker=breaker) as client:
        first_year = discover(client, store, DiscoveryPlan(plan.partitions[:1]), TODAY)
        replica.set_faults(1.0, ["http_429"], paths=["search"], max_failures=1000)
        before = log_position(replica)
        result = discover(client, store, plan, TODAY, policy=FAST_RETRY)

    assert len(first_year.new_ids) == 30
    assert result.interrupted is not None and "circuit open" in result.interrupted
    assert not result.complete
    assert search_requests(replica, before) == 3  # the breaker stops the requests at its threshold
