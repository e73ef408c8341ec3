"""How the crawl is doing: reports that failed since a moment, and listed reports still unstored after their day."""

from __future__ import annotations

import datetime as dt

import pytest

from crawler.storage import Store
from tests.storage.helpers import NOW, ref


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url, clock=lambda: NOW)


def test_failures_since_a_moment_name_their_reason(store: Store) -> None:
    store.add_discovered([ref(1), ref(2), ref(3)])
    store.mark_failed(2, reason="http_404", error="gone")

    [failure] = store.health.failures_since(NOW)
    assert (failure["upload_info_id"], failure["failure_reason"], failure["last_error"]) == (2, "http_404", "gone")
    assert store.health.failures_since(NOW + dt.timedelta(seconds=1)) == []


def test_late_reports_are_the_unstored_ones_sent_within_the_span(store: Store) -> None:
    days = [dt.date(2025, 4, day) for day in (18, 19, 20)]
    store.add_discovered([ref(n, send_date=day) for n, day in enumerate(days, 1)])
    store.mark_failed(3, reason="parse_error", error="no table")

    late = store.health.late_reports(days[0], days[2])
    assert [(row["upload_info_id"], row["state"]) for row in late] == [(2, "pending"), (3, "failed")], (
        "after the first day, up to and including the last")
    assert store.health.late_reports(days[0], days[2], limit=1)[0]["upload_info_id"] == 2
