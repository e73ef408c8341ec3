"""A real worker and its tasks: a message queued under the report task's former name, or a re-parse message of one
report queued before re-parse tasks took batches, still runs after an upgrade; and the chaos battery's fault hook
kills a worker child between commit and ack only when it is asked for."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import text

from crawler.celery_app import (
    LEGACY_PROCESS_REPORT_TASK,
    PROCESS_REPORT_TASK,
    REPARSE_QUEUE,
    REPARSE_TASK,
    REPORTS_QUEUE,
)
from crawler.models import ReportRef
from crawler.parsing import PARSER_VERSION
from tests.e2e.harness import Daemon, redis_broker
from tests.replica import Replica

#: One Redis database per test: xdist may run this module's tests at the same time, and each flushes its own.
REDIS_DB = {"former_name": 13, "fault_hook": 8, "reparse_one_id": 7}
FAULT_LOG = "test fault after_commit_before_ack: killing process"


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(generate=1, seed=13, partitions=["FB030010:2025"]) as site:
        yield site


def _listed(entry: dict[str, object]) -> ReportRef:
    return ReportRef(
        upload_info_id=int(str(entry["upload_info_id"])), report_type_code=str(entry["report_type_code"]),
        fund_code=str(entry["fund_code"]), fund_short_name=str(entry["fund_short_name"]),
        organ_name=str(entry["organ_name"]), report_year=str(entry["report_year"]),
        report_desp=str(entry["report_desp"]), send_date=dt.date.fromisoformat(str(entry["send_date"])),
    )


def _store_one_report_from_a_queued_message(tmp_path: Path, replica: Replica, task_name: str,
                                            env_extra: dict[str, str], logged: str, redis_db: int) -> str:
    """Queue one message for a discovered report, start one worker, wait until the report is stored and the
    worker logged ``logged`` (a pattern); returns what the worker logged."""
    report = _listed(replica.catalogue()[0])
    with redis_broker(db=redis_db) as broker_url:
        daemon = Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'data' / 'fundcrawl.sqlite'}", broker_url,
                        env_extra=env_extra)
        try:
            daemon.command("db", "upgrade")
            store = daemon.store()
            # Discovered and published already: the row is marked enqueued, so no reconciler republishes it;
            # only the queued message can get it stored.
            assert store.add_discovered([report]) == [report.upload_info_id]
            store.mark_enqueued([report.upload_info_id])
            publisher = Celery("fundcrawl-publisher", broker=broker_url)
            publisher.send_task(task_name, args=[report.upload_info_id], queue=REPORTS_QUEUE)
            publisher.close()

            daemon.start("worker0", "worker", "-c", "1", "--loglevel", "INFO")
            daemon.wait_for("the report stored", lambda: (store.state(report.upload_info_id) or {}).get("state")
                            == "stored", timeout=120)
            daemon.wait_for(logged, lambda: re.search(logged, daemon.logs_text()) is not None, timeout=30)
        finally:
            daemon.stop_all()
    assert store.document(report.upload_info_id)["fund_code"] == report.fund_code
    return daemon.logs_text()


def _succeeded(task_name: str) -> str:
    return rf"Task {re.escape(task_name)}\[[^\]]+\] succeeded"


def test_a_message_queued_under_the_former_task_name_is_processed_by_a_new_worker(
        tmp_path: Path, replica: Replica) -> None:
    log = _store_one_report_from_a_queued_message(tmp_path, replica, LEGACY_PROCESS_REPORT_TASK, {},
                                                  logged=_succeeded(LEGACY_PROCESS_REPORT_TASK),
                                                  redis_db=REDIS_DB["former_name"])
    assert f"Task {PROCESS_REPORT_TASK}[" not in log
    assert FAULT_LOG not in log  # no test variable, no fault hook


def test_the_fault_hook_kills_the_child_after_the_report_is_committed_when_asked(
        tmp_path: Path, replica: Replica) -> None:
    fault = {"FUNDCRAWL_TEST_FAULT": "after_commit_before_ack:p=1.0"}
    log = _store_one_report_from_a_queued_message(tmp_path, replica, PROCESS_REPORT_TASK, fault,
                                                  logged=re.escape(FAULT_LOG), redis_db=REDIS_DB["fault_hook"])
    assert not re.search(_succeeded(PROCESS_REPORT_TASK), log)  # killed before its message was acked


def test_a_reparse_message_of_one_report_queued_before_batches_is_processed_by_a_new_worker(
        tmp_path: Path, replica: Replica) -> None:
    _store_one_report_from_a_queued_message(tmp_path, replica, PROCESS_REPORT_TASK, {},
                                            logged=_succeeded(PROCESS_REPORT_TASK),
                                            redis_db=REDIS_DB["reparse_one_id"])
    report = _listed(replica.catalogue()[0])
    with redis_broker(db=REDIS_DB["reparse_one_id"]) as broker_url:
        daemon = Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'data' / 'fundcrawl.sqlite'}", broker_url)
        store = daemon.store()
        right = store.document(report.upload_info_id)
        with store.engine.begin() as connection:  # what a parser fixed without a version bump had stored
            connection.execute(text("UPDATE report_documents SET document = :doc"),
                               {"doc": '{"schema": "fundcrawl.report/1", "fund_code": "wrong"}'})
        run_id, _resumed = store.start_reparse(PARSER_VERSION, all_reports=True)
        try:
            publisher = Celery("fundcrawl-publisher", broker=broker_url)
            publisher.send_task(REPARSE_TASK, args=[run_id, report.upload_info_id], queue=REPARSE_QUEUE)
            publisher.close()
            daemon.start("worker1", "worker", "-c", "1", "--loglevel", "INFO")
            daemon.wait_for("the re-parse run done", lambda: store.reparse_progress(run_id)["pending"] == 0,
                            timeout=120)
        finally:
            daemon.stop_all()
    assert store.reparse_progress(run_id) == {"pending": 0, "updated": 1, "unchanged": 0, "failed": 0, "total": 1}
    assert store.document(report.upload_info_id) == right
