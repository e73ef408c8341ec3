"""The same pipeline classes, unchanged, inside a real Scrapy crawl of the site replica.

``scrapy runspider`` runs in a subprocess, fetches the corpus pages from the replica (following the 302 as
Scrapy does), parses them with the daemon's parser and sends the items through ITEM_PIPELINES. The rows in
the database, the absence of Scrapy deprecation warnings and an idempotent second crawl are checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from crawler.settings import DEFAULT_PIPELINES
from crawler.storage import Store
from crawler.storage.queries import LISTING_COLUMNS
from crawler.storage.tables import holdings
from tests.constants import CORPUS_DIR, REPO
from tests.replica import Replica
from tests.storage.helpers import row_counts

SPIDER = Path(__file__).with_name("report_spider.py")


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    with Replica(corpus=CORPUS_DIR) as site:
        yield site


def crawl(replica: Replica, catalogue: Path, url: str) -> str:
    """Run the spider to completion; return its log."""
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "runspider",
        str(SPIDER),
        "-a",
        f"base_url={replica.url}",
        "-a",
        f"catalogue={catalogue}",
        "-s",
        f"ITEM_PIPELINES={json.dumps(DEFAULT_PIPELINES)}",
        "-s",
        f"FUNDCRAWL_DATABASE_URL={url}",
        "-s",
        "LOG_LEVEL=INFO",
    ]
    # Every warning shown, every time: a deprecated pipeline signature would appear in the log.
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def holdings_of(store: Store, upload_info_id: int, kind: str) -> list[tuple[str, Decimal]]:
    statement = (
        select(holdings.c.code, holdings.c.fair_value_yuan)
        .where(holdings.c.upload_info_id == upload_info_id, holdings.c.kind == kind)
        .order_by(holdings.c.position)
    )
    return store.read(lambda connection: [tuple(row) for row in connection.execute(statement)])


def stat(log: str, name: str) -> int:
    found = re.search(rf"'{re.escape(name)}': (\d+)", log)
    return int(found.group(1)) if found else 0


def test_pipelines_store_every_corpus_page_in_a_real_scrapy_crawl(
    replica: Replica, db_url: str, tmp_path: Path
) -> None:
    listings = [{key: row[key] for key in LISTING_COLUMNS} for row in replica.catalogue()]
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps(listings, ensure_ascii=False), encoding="utf-8")
    store = Store.from_url(db_url)

    first = crawl(replica, catalogue, db_url)

    assert "Warning" not in first
    assert stat(first, "item_scraped_count") == len(listings) == 39
    assert store.counts() == {"total": 39, "stored": 39, "failed": 0, "pending": 0}
    for listing in listings[:5]:
        document = store.document(listing["upload_info_id"])
        assert document is not None and document["fund_code"] == listing["fund_code"]
        assert store.listing(listing["upload_info_id"]) == listing
    for listing in listings:
        document = store.document(listing["upload_info_id"]) or {}
        stocks = holdings_of(store, listing["upload_info_id"], "stock")
        assert [code for code, _value in stocks] == [row["code"] for row in document.get("top_stocks", [])]
        assert all(
            value == Decimal(repr(row["fair_value_yuan"]))
            for (_c, value), row in zip(stocks, document.get("top_stocks", []), strict=True)
            if row["fair_value_yuan"] is not None
        )
    before = row_counts(store)

    # A redelivery: a second crawl of some of the same pages drops every item and writes nothing.
    again = tmp_path / "again.json"
    again.write_text(json.dumps(listings[::5], ensure_ascii=False), encoding="utf-8")
    second = crawl(replica, again, db_url)

    assert (
        stat(second, "item_dropped_count") == len(listings[::5]) and stat(second, "item_scraped_count") == 0
    )
    assert "AlreadyStored" in second
    assert row_counts(store) == before
