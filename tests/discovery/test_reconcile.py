"""Reconciliation: a partition's site total against what is stored, and a scan of only the days that fall short."""

from __future__ import annotations

import datetime as dt

from crawler.discovery import DiscoveryPlan, discover, partition_status, reconcile_partitions
from crawler.sources.eid import EidClient
from crawler.storage import Store
from tests.discovery.conftest import log_position, publish, search_requests
from tests.replica import Replica
from tests.storage.helpers import Q1

TODAY = dt.date(2025, 4, 22)


def test_reports_missed_by_the_send_window_are_found_and_status_shows_the_partition(
        replica: Replica, client: EidClient, store: Store) -> None:
    publish(replica, 300)
    late_filed = publish(replica, 12, send_from="2025-04-10", send_to="2025-04-10")  # before the 7-day window
    discover(client, store, DiscoveryPlan((Q1,), sent_within_days=7), TODAY)

    result = reconcile_partitions(client, store)

    window_start = TODAY - dt.timedelta(days=7)
    missed = sorted(r["upload_info_id"] for r in replica.catalogue()
                    if dt.date.fromisoformat(r["send_date"]) < window_start)
    assert set(late_filed) <= set(missed)
    assert sorted(result.new_ids) == missed
    status = {(row["report_type_code"], row["report_year"]): row for row in partition_status(store)}
    row = status[("FB030010", "2025")]
    assert row["site_total"] == row["discovered"] == 312
    assert row["complete"] and row["last_checked"] is not None
    assert row["stored"] == 0 and row["failed"] == 0  # nothing fetched yet: all pending


def test_a_partition_in_step_with_the_site_costs_one_request(replica: Replica, client: EidClient,
                                                             store: Store) -> None:
    publish(replica, 200)
    discover(client, store, DiscoveryPlan((Q1,)), TODAY)
    before = log_position(replica)

    result = reconcile_partitions(client, store, [Q1])

    assert result.new_ids == [] and result.complete
    assert search_requests(replica, before) == 1


def test_an_unreadable_site_is_recorded_not_taken_for_an_empty_partition(replica: Replica, client: EidClient,
                                                                         store: Store) -> None:
    publish(replica, 50)
    discover(client, store, DiscoveryPlan((Q1,)), TODAY)
    replica.set_faults(1.0, ["http_502"], paths=["search"], max_failures=1000)

    from crawler.discovery import WalkPolicy

    result = reconcile_partitions(client, store, [Q1], policy=WalkPolicy(retry_base=0.01, retry_cap=0.05))

    assert not result.complete and result.totals == {"FB030010/2025": None}
    row = partition_status(store)[0]
    assert row["site_total"] == 50  # the last known total is kept, not replaced by 0
    assert "SourceError" in (row["last_error"] or "")
