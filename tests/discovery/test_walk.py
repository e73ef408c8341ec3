"""Walking one partition of the replica to a complete, duplicate-free set of report ids."""

from __future__ import annotations

import math

from crawler.discovery import Query, discover, walk
from crawler.discovery.incremental import DiscoveryPlan
from crawler.sources.eid import EidClient
from crawler.storage import PartitionKey, Store
from tests.discovery.conftest import FAST_RETRY, log_position, publish, search_requests, stored_ids
from tests.replica import Replica

Q1_2025 = Query("FB030010", "2025")


def test_stable_partition_costs_one_request_per_page(replica: Replica, client: EidClient) -> None:
    ids = publish(replica, 1234)
    before = log_position(replica)

    result = walk(client, Q1_2025)

    assert result.complete and result.site_total == 1234
    assert sorted(result.refs) == sorted(ids)
    spent = search_requests(replica, before)
    assert spent == result.requests
    assert spent <= 1.2 * math.ceil(1234 / 20)


def test_shuffled_order_with_a_growing_total_finds_every_report_once(store: Store) -> None:
    # The replica in its own process: thousands of requests, without sharing this process's GIL.
    replica = Replica.spawn("--generate", "2000", "--seed", "5")
    try:
        # A fresh random order on every request, and 40 new reports inserted while the walk pages.
        replica.set_order("drift", inserts_per_call=1, max_inserts=40, reshuffle=True)
        plan = DiscoveryPlan((PartitionKey("FB030010", "2025"),), sent_within_days=None)
        with EidClient(replica.url, "fundcrawl-test/1") as client:
            result = discover(client, store, plan)
        on_site = sorted(r["upload_info_id"] for r in replica.catalogue())
    finally:
        replica.close()

    assert len(on_site) == 2040
    assert result.complete, result.summary()
    assert sorted(result.new_ids) == on_site  # every report once: no duplicate, none missing
    assert sorted(stored_ids(store)) == on_site


def test_an_empty_partition_is_complete_with_a_zero_total(replica: Replica, client: EidClient) -> None:
    result = walk(client, Query("FB010010", "2009"))

    assert result.complete
    assert result.site_total == 0 and result.requests == 1


def test_a_failing_site_is_incomplete_never_an_empty_partition(replica: Replica, client: EidClient) -> None:
    publish(replica, 30)
    replica.set_faults(1.0, ["http_503"], paths=["search"], max_failures=1000)

    result = walk(client, Q1_2025, policy=FAST_RETRY)

    assert not result.complete
    assert result.site_total is None  # "could not read the site", not "the site lists 0"
    assert "SourceError" in result.incomplete[0].error


def test_a_malformed_row_costs_its_page_not_the_partition(replica: Replica, client: EidClient) -> None:
    good = publish(replica, 200)
    bad = replica.publish(1, "FB030010", "2025", faults={"listing_string_id": 1})

    result = walk(client, Q1_2025)

    assert not result.complete  # the bad row is never reported as listed
    assert set(good) <= set(result.refs)
    assert bad[0] not in result.refs
    assert any("rejected" in piece.error for piece in result.incomplete)
