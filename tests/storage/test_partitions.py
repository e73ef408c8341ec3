"""Partitions of the site's listing: each one's row, and the reports stored under it."""

from __future__ import annotations

import datetime as dt

import pytest

from crawler.storage import PartitionKey, Store
from tests.storage.helpers import Q1, ref

WALKED = dt.datetime(2025, 4, 21, 9, 30, tzinfo=dt.UTC)
PROFILES = PartitionKey("FB010010", "")


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url)


def test_recording_a_partition_again_changes_only_what_it_names(store: Store) -> None:
    store.partitions.record(Q1, site_total=30, complete=True, last_walked_at=WALKED, last_error=None)
    store.partitions.record(Q1, discovered=29, last_error="one day did not converge")

    [status] = store.partitions.status()
    assert (status["site_total"], status["complete"], status["last_error"]) == (
        30, True, "one day did not converge")
    assert status["last_checked"] == WALKED.isoformat()
    assert store.partitions.known() == [Q1]


def test_stored_reports_are_counted_per_partition_and_send_date(store: Store) -> None:
    day, later = dt.date(2025, 4, 21), dt.date(2025, 4, 22)
    store.add_discovered([ref(1, send_date=day), ref(2, send_date=day), ref(3, send_date=later),
                          ref(4, report_year="2024"),
                          ref(5, report_type_code="FB010010", report_year="2023"),
                          ref(6, report_type_code="FB010010", report_year="2025")])

    assert store.partitions.stored_count(Q1) == 3
    assert store.partitions.stored_by_day(Q1) == {day: 2, later: 1}
    assert store.partitions.stored_count(PROFILES) == 2, "year '' is the site's 'any year'"


def test_status_counts_each_partitions_reports_by_state(store: Store) -> None:
    store.add_discovered([ref(1), ref(2), ref(3)])
    store.mark_failed(3, reason="http_404", error="gone")
    store.partitions.record(PROFILES, site_total=None, last_walked_at=WALKED)
    store.partitions.record(Q1, site_total=3, complete=False, last_walked_at=WALKED)

    assert [(s["report_type_code"], s["discovered"], s["stored"], s["failed"], s["complete"])
            for s in store.partitions.status()] == [("FB010010", 0, 0, 0, False), ("FB030010", 3, 0, 1, False)]
    assert store.partitions.known() == [PROFILES, Q1]
