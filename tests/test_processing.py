"""One report from claim to state: processing a discovered report, re-parsing stored ones from the archive, and
the retry schedule (backoff, postponing, re-claiming a lease after a database outage)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from crawler.discovery.runs import run_schedule_entry
from crawler.exceptions import (
    CircuitOpenError,
    OutOfSpaceError,
    RateLimitedError,
    SourceError,
    StorageUnavailableError,
    TransientError,
)
from crawler.parsing import PARSER_VERSION
from crawler.processing import (
    OUT_OF_SPACE_RECHECK,
    RETRY_BASE_SECONDS,
    Runtime,
    postpone_report,
    process_report,
    reparse_items,
    retry_delay,
    runtime,
)
from crawler.settings import Settings
from crawler.storage import Store, saving, upgrade
from tests.fakes.clock import FakeUtcClock
from tests.replica import Replica
from tests.storage.helpers import ref

#: Samples drawn per bound: the chance that none of them lands in the top fifth of a uniform range is 0.8 ** 300.
SAMPLES = 300
LEASE = 600


@pytest.fixture
def clock() -> FakeUtcClock:
    # It starts at the real time because a postponed report's retry time is taken from the real clock.
    return FakeUtcClock(dt.datetime.now(dt.UTC))


@pytest.fixture
def offline_runtime(tmp_path: Path, clock: FakeUtcClock) -> Iterator[Runtime]:
    """A worker's collaborators on a fresh SQLite data dir whose store runs on ``clock``; no site behind it."""
    settings = Settings(data_dir=tmp_path / "data", lease_seconds=LEASE, max_attempts=3, retry_backoff_max=600)
    settings.data_dir.mkdir()
    upgrade(settings.database)
    rt = runtime(settings)
    rt.store = Store.from_url(settings.database, clock=clock)
    rt.archive.store = rt.store
    yield rt
    rt.close()


def _delays(error: TransientError, retries: int, settings: Settings) -> list[float]:
    return [retry_delay(error, retries, settings) for _ in range(SAMPLES)]


@pytest.mark.parametrize("retries", [0, 1, 2, 3, 4, 5, 6])
def test_backoff_doubles_from_five_seconds_with_full_jitter_and_a_one_second_floor(retries: int) -> None:
    settings = Settings(retry_backoff_max=600)
    ceiling = RETRY_BASE_SECONDS * 2 ** retries
    delays = _delays(SourceError("timeout"), retries, settings)
    assert all(1.0 <= delay <= ceiling for delay in delays)
    assert max(delays) > 0.8 * ceiling  # the jitter spans the whole range, not a fixed share of it


@pytest.mark.parametrize("retries", [7, 20, 10_000])
def test_backoff_is_capped_at_the_longest_countdown(retries: int) -> None:
    delays = _delays(SourceError("timeout"), retries, Settings(retry_backoff_max=600))
    assert all(1.0 <= delay <= 600 for delay in delays)
    assert max(delays) > 480


def test_the_sites_retry_after_wins_plus_a_tenth_of_the_backoff() -> None:
    settings = Settings(retry_backoff_max=600)
    delays = _delays(RateLimitedError("429", retry_after=30), 2, settings)  # a tenth of a backoff up to 4x the base
    assert all(30 <= delay <= 30 + RETRY_BASE_SECONDS * 4 / 10 for delay in delays)
    capped = _delays(RateLimitedError("429", retry_after=3600), 2, settings)
    assert set(capped) == {600}


def test_an_open_breaker_is_waited_out_plus_up_to_five_seconds() -> None:
    delays = _delays(CircuitOpenError("open", reopen_in=12), 9, Settings(retry_backoff_max=600))
    assert all(12 <= delay <= 17 for delay in delays)


def test_a_full_disk_is_looked_at_again_at_a_steady_pace_however_long_it_lasted() -> None:
    settings = Settings(retry_backoff_max=600)
    for retries in (0, 30):
        delays = _delays(OutOfSpaceError("disk full"), retries, settings)
        assert all(OUT_OF_SPACE_RECHECK <= delay <= OUT_OF_SPACE_RECHECK + 5 for delay in delays)


def _claimed(rt: Runtime, upload_info_id: int, token: str) -> None:
    rt.store.add_discovered([ref(upload_info_id)])
    rt.store.mark_enqueued([upload_info_id])
    claim = rt.store.claim(upload_info_id, lease_seconds=LEASE, max_attempts=rt.settings.max_attempts, token=token)
    assert claim is not None


def _seconds_from_now(moment: Any) -> float:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return (moment - dt.datetime.now(dt.UTC)).total_seconds()


def test_a_postponed_report_is_pending_again_with_its_error_until_its_retry_message_is_due(
        offline_runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    rt = offline_runtime
    _claimed(rt, 1, "task-1")
    with caplog.at_level(logging.INFO, logger="crawler.processing"):
        assert postpone_report(rt, 1, SourceError("read timed out"), 40, "task-1") is True
    row = rt.store.state(1)
    assert row is not None
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 1, "SourceError: read timed out")
    assert row["enqueued_at"] is not None  # the retry message is on its way: the reconciler must not publish it
    # The retry message comes after 40 s; the reconciler keeps off the row for 30 s more.
    assert 65 <= _seconds_from_now(row["lease_until"]) <= 70
    assert "report 1 will retry in 40s: read timed out" in caplog.messages
    retry = rt.store.claim(1, lease_seconds=LEASE, max_attempts=3, token="task-1")
    assert retry is not None and retry.attempt == 2  # the retry message takes it at once, lease or not


def test_a_report_postponed_for_the_reconciler_is_republished_by_it_once_its_countdown_passed(
        offline_runtime: Runtime) -> None:
    rt = offline_runtime
    _claimed(rt, 1, "task-1")
    assert postpone_report(rt, 1, SourceError("reset"), 40, "task-1", by_reconciler=True) is True
    row = rt.store.state(1)
    assert row is not None and row["state"] == "pending" and row["enqueued_at"] is None
    assert 35 <= _seconds_from_now(row["lease_until"]) <= 40


def test_a_full_disk_postpones_without_spending_an_attempt(offline_runtime: Runtime,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    rt = offline_runtime
    _claimed(rt, 1, "task-1")
    with caplog.at_level(logging.WARNING, logger="crawler.processing"):
        assert postpone_report(rt, 1, OutOfSpaceError("no space left"), 10, "task-1") is True
    row = rt.store.state(1)
    assert row is not None and (row["state"], row["attempts"]) == ("pending", 0)
    assert "waiting: no space left; report 1 looks again in 10s" in caplog.messages


def test_a_report_out_of_attempts_fails_instead_of_being_postponed(offline_runtime: Runtime,
                                                                    clock: FakeUtcClock) -> None:
    rt = offline_runtime
    _claimed(rt, 1, "task-1")
    for token in ("task-2", "task-3"):  # two more executions whose leases ran out: three in all
        clock.advance(LEASE + 1)
        assert rt.store.claim(1, lease_seconds=LEASE, max_attempts=3, token=token) is not None
    assert postpone_report(rt, 1, SourceError("reset"), 40, "task-3") is False
    row = rt.store.state(1)
    assert row is not None
    assert (row["state"], row["failure_reason"], row["last_error"]) == ("failed", "retries_exhausted",
                                                                        "SourceError: reset")


def _database_down(*_: Any, **__: Any) -> Any:
    raise StorageUnavailableError("connection refused")


def test_after_a_database_outage_only_the_retry_of_the_same_task_reclaims_the_lease_until_it_expires(
        offline_runtime: Runtime, clock: FakeUtcClock, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = offline_runtime
    _claimed(rt, 1, "task-1")
    with monkeypatch.context() as outage:
        outage.setattr(rt.store, "read", _database_down)
        outage.setattr(rt.store, "write", _database_down)
        # The failure cannot be recorded: the task retries anyway, and the report is not failed.
        assert postpone_report(rt, 1, StorageUnavailableError("connection refused"), 5, "task-1") is True
    row = rt.store.state(1)
    assert row is not None and (row["state"], row["attempts"]) == ("fetching", 1)

    claim: Callable[[str], Any] = lambda token: rt.store.claim(1, lease_seconds=LEASE, max_attempts=3, token=token)
    assert claim("task-2") is None  # another task never takes a live lease
    retry = claim("task-1")  # the Celery retry keeps its task id, so its lease token
    assert retry is not None and retry.attempt == 2
    clock.advance(LEASE - 1)
    assert claim("task-2") is None
    clock.advance(2)
    takeover = claim("task-2")  # the retry died too: once its lease ran out, anyone may take the report
    assert takeover is not None and takeover.attempt == 3


def test_reparse_after_a_parser_upgrade_rewrites_rows_keeps_provenance_and_never_builds_the_site_client(
        replica_runtime: tuple[Runtime, Replica]) -> None:
    rt, _replica = replica_runtime
    new: list[int] = []
    run_schedule_entry(rt, "tick", new.extend)
    upload_info_id = new[0]
    assert process_report(rt, upload_info_id) == "stored"
    before = rt.store.state(upload_info_id)
    with rt.store.engine.begin() as connection:  # as if an older parser had stored it
        connection.execute(text("UPDATE reports SET parser_version = '0.9' WHERE upload_info_id = :id"),
                           {"id": upload_info_id})
    todo = rt.store.stored_for_reparse(PARSER_VERSION)
    assert todo == [(upload_info_id, before["page_sha256"])]
    run_id, _resumed = rt.store.start_reparse(PARSER_VERSION, all_reports=False)
    reparsing = runtime(rt.settings.model_copy())  # a process that only re-parses
    assert reparsing is not rt
    assert reparse_items(reparsing, run_id, [upload_info_id]) == {upload_info_id: "updated"}
    assert reparsing._client is None
    after = rt.store.state(upload_info_id)
    assert after["parser_version"] == PARSER_VERSION and after["final_url"] == before["final_url"] != ""
    assert rt.store.stored_for_reparse(PARSER_VERSION) == []


def test_reparse_all_stores_what_a_fixed_parser_produces_without_a_version_bump(
        replica_runtime: tuple[Runtime, Replica]) -> None:
    rt, _replica = replica_runtime
    new: list[int] = []
    run_schedule_entry(rt, "tick", new.extend)
    for upload_info_id in new:
        assert process_report(rt, upload_info_id) == "stored"
    buggy = new[0]
    right = rt.store.document(buggy)
    with rt.store.engine.begin() as connection:  # what a buggy parser of this same version had stored
        connection.execute(text("UPDATE report_documents SET document = :doc WHERE upload_info_id = :id"),
                           {"doc": json.dumps({**right, "fund_name": "wrong"}), "id": buggy})
    run_id, resumed = rt.store.start_reparse(PARSER_VERSION, all_reports=True)
    assert not resumed and rt.store.reparse_pending(run_id) == sorted(new)
    outcomes = reparse_items(rt, run_id, [*new, 10**9])  # one batch, as a task gets; an id not in the run is ignored
    assert outcomes == {upload_info_id: "updated" if upload_info_id == buggy else "unchanged" for upload_info_id in new}
    assert rt.store.document(buggy) == right
    assert reparse_items(rt, run_id, new) == {}  # a redelivered batch does nothing
    assert rt.store.reparse_progress(run_id) == {"pending": 0, "updated": 1, "unchanged": len(new) - 1,
                                                 "failed": 0, "total": len(new)}
    again, resumed = rt.store.start_reparse(PARSER_VERSION, all_reports=True)
    assert again != run_id and not resumed  # the finished run is closed, a new one starts


def _stale_stored_reports(rt: Runtime) -> tuple[list[int], int]:
    """Every report of the replica stored, then made stale (as a buggy parser of this version left them); a
    re-parse run of them all."""
    new: list[int] = []
    run_schedule_entry(rt, "tick", new.extend)
    for upload_info_id in new:
        assert process_report(rt, upload_info_id) == "stored"
    with rt.store.engine.begin() as connection:
        connection.execute(text("UPDATE report_documents SET document = :doc"),
                           {"doc": json.dumps({"schema": "fundcrawl.report/1", "fund_code": "stale"})})
    run_id, _resumed = rt.store.start_reparse(PARSER_VERSION, all_reports=True)
    return sorted(new), run_id


def test_a_reparse_batch_whose_store_fails_stores_none_of_it_and_its_redelivery_does_it_all(
        replica_runtime: tuple[Runtime, Replica], monkeypatch: pytest.MonkeyPatch) -> None:
    rt, _replica = replica_runtime
    ids, run_id = _stale_stored_reports(rt)
    upsert = saving._upsert_documents

    def database_gone_half_way(connection: Any, saved: Any) -> None:
        upsert(connection, saved)  # the documents are written, the rows not yet
        raise StorageUnavailableError("database gone while storing the batch")

    monkeypatch.setattr(saving, "_upsert_documents", database_gone_half_way)
    with pytest.raises(StorageUnavailableError, match="while storing the batch"):
        reparse_items(rt, run_id, ids)
    # The batch is one transaction: nothing of it is stored, and every item waits for the redelivered batch.
    assert rt.store.reparse_pending(run_id) == ids
    assert {rt.store.document(upload_info_id)["fund_code"] for upload_info_id in ids} == {"stale"}
    monkeypatch.undo()
    assert reparse_items(rt, run_id, ids) == dict.fromkeys(ids, "updated")  # the redelivered batch
    assert rt.store.reparse_progress(run_id) == {"pending": 0, "updated": len(ids), "unchanged": 0, "failed": 0,
                                                 "total": len(ids)}


def test_a_reparse_batch_whose_pages_cannot_be_read_records_nothing_until_its_redelivery(
        replica_runtime: tuple[Runtime, Replica], monkeypatch: pytest.MonkeyPatch) -> None:
    rt, _replica = replica_runtime
    ids, run_id = _stale_stored_reports(rt)

    def database_gone(pages: Any) -> Any:
        raise StorageUnavailableError("database gone while reading the batch's pages")

    monkeypatch.setattr(rt.archive, "read_many", database_gone)
    with pytest.raises(StorageUnavailableError, match="reading the batch's pages"):
        reparse_items(rt, run_id, ids)
    assert rt.store.reparse_pending(run_id) == ids
    monkeypatch.undo()
    assert reparse_items(rt, run_id, ids) == dict.fromkeys(ids, "updated")


def test_a_corrupt_page_fails_its_own_reparse_item_and_the_batch_stores_the_rest(
        replica_runtime: tuple[Runtime, Replica], caplog: pytest.LogCaptureFixture) -> None:
    rt, _replica = replica_runtime
    ids, run_id = _stale_stored_reports(rt)
    rotten = rt.store.state(ids[1])["page_sha256"]
    with rt.store.engine.begin() as connection:
        connection.execute(text("UPDATE pages SET body = :body WHERE sha256 = :sha"),
                           {"body": b"not zstd at all", "sha": rotten})
    with caplog.at_level(logging.WARNING, logger="crawler.processing"):
        outcomes = reparse_items(rt, run_id, ids)
    assert outcomes == {upload_info_id: "failed" if upload_info_id == ids[1] else "updated" for upload_info_id in ids}
    assert f"page {rotten[:12]} of report {ids[1]} is corrupt" in caplog.text
    assert rt.store.document(ids[1])["fund_code"] == "stale"  # its stored data stays as it was
    [(failed, why)] = rt.store.reparse_failures(run_id)
    assert failed == ids[1] and "is corrupt in the archive" in why
