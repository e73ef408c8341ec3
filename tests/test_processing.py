"""One report from claim to state: processing a discovered report, and re-parsing stored ones from the archive."""

from __future__ import annotations

import json

from sqlalchemy import text

from crawler.discovery.runs import run_schedule_entry
from crawler.parsing import PARSER_VERSION
from crawler.processing import Runtime, process_report, reparse_item, reparse_report
from tests.replica import Replica


def test_reparse_after_a_parser_upgrade_rewrites_rows_and_keeps_provenance(
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
    assert reparse_report(rt, upload_info_id) == ("stored", "")
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
    outcomes = {upload_info_id: reparse_item(rt, run_id, upload_info_id) for upload_info_id in new}
    assert outcomes == {upload_info_id: "updated" if upload_info_id == buggy else "unchanged" for upload_info_id in new}
    assert rt.store.document(buggy) == right
    assert reparse_item(rt, run_id, buggy) == "skipped"  # a redelivered message does nothing
    assert rt.store.reparse_progress(run_id) == {"pending": 0, "updated": 1, "unchanged": len(new) - 1,
                                                 "failed": 0, "total": len(new)}
    again, resumed = rt.store.start_reparse(PARSER_VERSION, all_reports=True)
    assert again != run_id and not resumed  # the finished run is closed, a new one starts
