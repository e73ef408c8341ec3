"""Backfill: planned once, resumable after SIGKILL without duplicates, safe next to scheduled discovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter

from crawler.discovery import DiscoveryPlan, discover
from crawler.discovery.backfill import BackfillProgress, plan_backfill, run_backfill
from crawler.sources.eid import EidClient
from crawler.storage import PartitionKey, Store
from tests.constants import REPO, SEARCH_PATH
from tests.discovery.conftest import log_position, publish, stored_ids
from tests.replica import Replica

PARTITIONS = [("FB030010", "2024"), ("FB030010", "2025"), ("FB030040", "2024"), ("FB030040", "2025")]


def publish_all(replica: Replica, per_partition: int) -> list[int]:
    return [i for code, year in PARTITIONS for i in publish(replica, per_partition, code, year)]


def partitions_searched(replica: Replica, since: int) -> Counter[tuple[str, str]]:
    """Search requests per (report type, year) after log position ``since``."""
    counts: Counter[tuple[str, str]] = Counter()
    for entry in replica.log(since):
        if entry["path"] == SEARCH_PATH:
            params = {p["name"]: p["value"] for p in json.loads(urllib.parse.parse_qs(entry["query"])["aoData"][0])}
            counts[(params["reportTypeCode"], params["reportYear"])] += 1
    return counts


def test_backfill_lists_every_partition_and_reports_progress(replica: Replica, client: EidClient,
                                                             store: Store) -> None:
    ids = publish_all(replica, 120)
    job = plan_backfill(store, ["FB030010", "FB030040"], [2024, 2025])
    seen: list[BackfillProgress] = []
    enqueued: list[int] = []

    result = run_backfill(client, store, job, seen.append, on_new=enqueued.extend)

    assert result.complete and result.partitions_done == 4
    assert sorted(result.new_ids) == sorted(enqueued) == sorted(ids)
    assert seen[-1].partitions_done == 4 and seen[-1].found == 480 and seen[-1].eta == 0
    assert all(state["state"] == "done" for state in store.jobs.partition_states(job).values())


def test_a_backfill_killed_mid_walk_resumes_without_duplicates(replica: Replica, client: EidClient, store: Store,
                                                              sqlite_url: str) -> None:
    ids = publish_all(replica, 300)
    job = plan_backfill(store, ["FB030010", "FB030040"], [2024, 2025])
    child = subprocess.Popen([sys.executable, "-m", "tests.discovery.backfill_child", sqlite_url, replica.url, str(job)],
                             cwd=REPO, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(stored_ids(store)) <= 300 and time.monotonic() < deadline:  # the second partition has begun
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    states = store.jobs.partition_states(job)
    done = {key for key, state in states.items() if state["state"] == "done"}
    assert 1 <= len(done) < 4
    inserted_before = set(stored_ids(store))
    assert len(inserted_before) > 300 * len(done)  # killed mid-walk: part of the next partition was inserted
    before = log_position(replica)

    result = run_backfill(client, store, job)

    assert result.complete
    assert not set(result.new_ids) & inserted_before  # nothing the killed run inserted is handed out again
    assert sorted(stored_ids(store)) == sorted(ids)  # every report once
    searched = partitions_searched(replica, before)
    assert not any((key.report_type_code, key.report_year) in searched for key in done)  # finished work kept


def test_backfill_and_scheduled_discovery_together_hand_out_each_report_once(replica: Replica, client: EidClient,
                                                                              any_store: Store) -> None:
    store = any_store
    ids = publish_all(replica, 200)
    job = plan_backfill(store, ["FB030010", "FB030040"], [2024, 2025])
    plan = DiscoveryPlan(tuple(PartitionKey(code, year) for code, year in PARTITIONS))
    handed_out: list[int] = []

    def scheduled() -> None:
        with EidClient(replica.url, "fundcrawl-test/1") as own_client:
            handed_out.extend(discover(own_client, store, plan).new_ids)

    thread = threading.Thread(target=scheduled)
    thread.start()
    handed_out.extend(run_backfill(client, store, job).new_ids)
    thread.join()

    assert sorted(handed_out) == sorted(ids)  # no report enqueued twice, none missed
