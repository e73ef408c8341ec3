"""The flow behind the tasks: one run per schedule tick, no overlapping walks, the hourly upkeep."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from crawler import flow, upkeep
from crawler.models import ReportRef
from crawler.parsing import PARSER_VERSION
from crawler.settings import Settings
from crawler.storage import discovery as discovery_runs
from crawler.storage import operations, upgrade
from tests.replica import Replica

SCHEDULE = "schedules:\n  tick:\n    every: 1h\n    discover:\n      report_types: [q1]\n      years: [2025]\n"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[tuple[flow.Runtime, Replica]]:
    (tmp_path / "s.yaml").write_text(SCHEDULE, encoding="utf-8")
    with Replica(generate=5, seed=5, partitions=["FB030010:2025"]) as replica:
        settings = Settings(source_url=replica.url, data_dir=tmp_path / "data", schedules=tmp_path / "s.yaml",
                            rate_limit=100, politeness_key_prefix=f"test-flow-{tmp_path.name}")
        settings.data_dir.mkdir()
        upgrade(settings.database)
        rt = flow.runtime(settings)
        yield rt, replica
        rt.close()


def test_one_run_per_tick_and_never_two_walks_at_once(runtime: tuple[flow.Runtime, Replica]) -> None:
    rt, _replica = runtime
    published: list[int] = []
    first = flow.run_schedule_entry(rt, "tick", published.extend)
    again = flow.run_schedule_entry(rt, "tick", published.extend)
    assert first["new"] == 5 and sorted(published) == sorted(set(published)) and len(published) == 5
    assert again["skipped"] is True  # same hourly tick: another beat, or a redelivered message

    stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert discovery_runs.start_run(rt.store.engine, "tick", stale, "manual") is not None  # left "running"
    manual = flow.run_schedule_entry(rt, "tick", published.extend, kind="manual")
    assert manual["skipped"] is True and len(published) == 5


def test_hourly_upkeep_alerts_late_reports_once_and_sweeps_temp_files(runtime: tuple[flow.Runtime, Replica]) -> None:
    rt, _replica = runtime
    sent = dt.date.today() - dt.timedelta(days=3)
    # The first upkeep looks back one hour: run it just after this report's deadline passed.
    now = upkeep.freshness_deadline(sent, rt.settings.freshness_delay_hours).astimezone(dt.UTC) + dt.timedelta(minutes=10)
    rt.store.add_discovered([ReportRef(upload_info_id=99, report_type_code="FB030010", fund_code="000001",
                                       fund_short_name="x", organ_name="y", report_year="2025",
                                       report_desp="第一季度报告", send_date=sent)])
    assert rt.archive.legacy is not None
    temp = rt.archive.legacy.root / "ab" / "cd" / ".tmp-left.html"
    temp.parent.mkdir(parents=True)
    temp.write_bytes(b"partial")
    stale = dt.datetime.now().timestamp() - 7200
    os.utime(temp, (stale, stale))
    upkeep.hourly_upkeep(rt, now)
    upkeep.hourly_upkeep(rt, now + dt.timedelta(minutes=5))  # the same hour: nothing more
    runs = [run for run in operations.recent_runs(rt.store.engine) if run["schedule"] == upkeep.UPKEEP_JOB]
    assert len(runs) == 1 and runs[0]["listed"] == 1  # one late report alerted, once
    assert not temp.exists()


def test_reparse_after_a_parser_upgrade_rewrites_rows_and_keeps_provenance(
        runtime: tuple[flow.Runtime, Replica]) -> None:
    rt, _replica = runtime
    new: list[int] = []
    flow.run_schedule_entry(rt, "tick", new.extend)
    upload_info_id = new[0]
    assert flow.process_report(rt, upload_info_id) == "stored"
    before = rt.store.state(upload_info_id)
    with rt.store.engine.begin() as connection:  # as if an older parser had stored it
        connection.execute(text("UPDATE reports SET parser_version = '0.9' WHERE upload_info_id = :id"),
                           {"id": upload_info_id})
    todo = rt.store.stored_for_reparse(PARSER_VERSION)
    assert todo == [(upload_info_id, before["page_sha256"])]
    assert flow.reparse_report(rt, upload_info_id) == ("stored", "")
    after = rt.store.state(upload_info_id)
    assert after["parser_version"] == PARSER_VERSION and after["final_url"] == before["final_url"] != ""
    assert rt.store.stored_for_reparse(PARSER_VERSION) == []


def test_reparse_all_stores_what_a_fixed_parser_produces_without_a_version_bump(
        runtime: tuple[flow.Runtime, Replica]) -> None:
    rt, _replica = runtime
    new: list[int] = []
    flow.run_schedule_entry(rt, "tick", new.extend)
    for upload_info_id in new:
        assert flow.process_report(rt, upload_info_id) == "stored"
    buggy = new[0]
    right = rt.store.document(buggy)
    with rt.store.engine.begin() as connection:  # what a buggy parser of this same version had stored
        connection.execute(text("UPDATE report_documents SET document = :doc WHERE upload_info_id = :id"),
                           {"doc": json.dumps({**right, "fund_name": "wrong"}), "id": buggy})
    run_id, resumed = rt.store.start_reparse(PARSER_VERSION, all_reports=True)
    assert not resumed and rt.store.reparse_pending(run_id) == sorted(new)
    outcomes = {upload_info_id: flow.reparse_item(rt, run_id, upload_info_id) for upload_info_id in new}
    assert outcomes == {upload_info_id: "updated" if upload_info_id == buggy else "unchanged" for upload_info_id in new}
    assert rt.store.document(buggy) == right
    assert flow.reparse_item(rt, run_id, buggy) == "skipped"  # a redelivered message does nothing
    assert rt.store.reparse_progress(run_id) == {"pending": 0, "updated": 1, "unchanged": len(new) - 1,
                                                 "failed": 0, "total": len(new)}
    again, resumed = rt.store.start_reparse(PARSER_VERSION, all_reports=True)
    assert again != run_id and not resumed  # the finished run is closed, a new one starts
