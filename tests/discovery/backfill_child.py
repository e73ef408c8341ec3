"""A backfill in its own process, for the crash test: ``python -m tests.discovery.backfill_child DB SITE JOB``.

Searches are slowed a little so that the parent's SIGKILL lands in the middle of a partition's walk. Each
progress snapshot is printed as one line so the parent knows how far the child got.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from crawler.discovery.backfill import BackfillProgress, run_backfill
from crawler.models import ListingPage
from crawler.sources.eid import EidClient
from crawler.storage import Store, make_engine


class SlowClient:
    """The real client, 20 ms slower per search."""

    def __init__(self, client: EidClient) -> None:
        self.client = client

    def search(self, *args: Any, **kwargs: Any) -> ListingPage:
        time.sleep(0.02)
        return self.client.search(*args, **kwargs)


def main(db_url: str, site_url: str, job_id: int) -> None:
    def show(progress: BackfillProgress) -> None:
        print(f"progress {progress.partitions_done} {progress.found} {progress.new}", flush=True)

    with EidClient(site_url, "fundcrawl-test/1 (+https://example.org/fundcrawl)") as client:
        run_backfill(SlowClient(client), Store(make_engine(db_url)), job_id, show)
    print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
