"""Reverification: which stored reports are re-checked, in which order, within the request cap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from crawler.discovery.reverify import due_reports, reverify
from crawler.models import FetchedPage
from crawler.schedules import ReverifySpec
from crawler.sources import EidClient
from crawler.storage import Store
from tests.replica import Replica
from tests.storage.fixtures import backend, db_url, pg_database_url  # noqa: F401  (fixtures)
from tests.storage.helpers import document, item, ref

NOW = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
TODAY = NOW.date()


def _row(upload_info_id: int, sent_days_ago: int, checked_days_ago: float) -> dict:
    return {"upload_info_id": upload_info_id, "send_date": TODAY - dt.timedelta(days=sent_days_ago),
            "verified_at": NOW - dt.timedelta(days=checked_days_ago), "fetched_at": None}


def test_recent_reports_are_checked_often_and_old_ones_slowly() -> None:
    spec = ReverifySpec(report_types=["q1"])  # due after max(1 day, age / 10)
    rows = [
        _row(1, sent_days_ago=5, checked_days_ago=2),        # this week's report, checked 2 days ago: due
        _row(2, sent_days_ago=5, checked_days_ago=0.5),      # checked this morning: not yet
        _row(3, sent_days_ago=3 * 365, checked_days_ago=30),  # three years old, checked a month ago: not yet
        _row(4, sent_days_ago=3 * 365, checked_days_ago=200),  # ... checked 200 days ago: due
        _row(5, sent_days_ago=100, checked_days_ago=40),     # 100 days old, checked 40 days ago: 4x overdue
    ]
    assert [row["upload_info_id"] for row in due_reports(rows, spec, NOW, TODAY)] == [5, 1, 4]


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(generate=0, seed=5) as replica:
        yield replica


def test_a_run_spends_at_most_its_cap_and_stores_changed_pages(db_url: str, replica: Replica) -> None:  # noqa: F811
    store = Store.from_url(db_url)
    ids = replica.publish(4, "FB030010", "2025")
    with EidClient(replica.url, "fundcrawl-test") as client:
        for n, upload_info_id in enumerate(ids):
            page = client.fetch_report(upload_info_id)
            fund = f"00000{n}"
            store.add_discovered([ref(upload_info_id, fund_code=fund)])
            store.save_report(item(upload_info_id, sha=page.sha256, final_url=page.final_url, document=document(fund),
                                   page_etag=page.etag, page_last_modified=page.last_modified), "x")
        stored: list[int] = []

        def store_page(upload_info_id: int, page: FetchedPage) -> str:
            stored.append(upload_info_id)
            return "stored"

        spec = ReverifySpec(report_types=["q1"], years=["2025"], max_requests=2, min_interval="1s",
                            age_divisor=10**9)
        later = store.clock() + dt.timedelta(seconds=5)
        _result, capped = reverify(client, store, spec, TODAY, store_page, now=later)
        assert (capped.due, capped.checked, capped.requests, capped.not_modified) == (4, 2, 2, 2)

        replica.correct(ids[2], "in_place")
        spec = spec.model_copy(update={"max_requests": 100})
        _result, full = reverify(client, store, spec, TODAY, store_page, now=later + dt.timedelta(seconds=5))

    assert (full.checked, full.not_modified, full.changed) == (4, 3, [ids[2]])
    assert stored == [ids[2]]
