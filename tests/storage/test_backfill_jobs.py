"""Backfill jobs: planned with all their partitions at once, checkpointed per partition, found again by spec."""

from __future__ import annotations

import pytest

from crawler.storage import PartitionKey, Store

SPEC = {"report_types": ["FB030010"], "years": ["2024", "2025"], "fund_types": []}
KEYS = [PartitionKey("FB030010", "2024"), PartitionKey("FB030010", "2025")]


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url)


def test_a_job_starts_with_every_partition_to_do(store: Store) -> None:
    job = store.jobs.create(SPEC, KEYS)

    states = store.jobs.partition_states(job)
    assert sorted(states) == KEYS
    assert {state["state"] for state in states.values()} == {"todo"}


def test_each_partition_keeps_its_own_checkpoint(store: Store) -> None:
    job = store.jobs.create(SPEC, KEYS)

    store.jobs.update_partition(job, KEYS[0], state="done", site_total=40, seen=40, new=38)

    states = store.jobs.partition_states(job)
    assert {key: (s["state"], s["site_total"], s["seen"], s["new"]) for key, s in states.items()} == {
        KEYS[0]: ("done", 40, 40, 38), KEYS[1]: ("todo", None, None, None)}


def test_an_unfinished_job_is_found_by_its_exact_spec_until_it_is_done(store: Store) -> None:
    older = store.jobs.create(SPEC, KEYS)
    job = store.jobs.create(SPEC, KEYS)
    assert store.jobs.unfinished(SPEC) == job, "the newest one"
    assert store.jobs.unfinished({**SPEC, "years": ["2025"]}) is None

    store.jobs.finish(job, "incomplete")
    assert store.jobs.unfinished(SPEC) == job, "an incomplete job is resumed"
    store.jobs.finish(job, "done")
    assert store.jobs.unfinished(SPEC) == older
    store.jobs.finish(older, "done")
    assert store.jobs.unfinished(SPEC) is None
