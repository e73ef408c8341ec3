"""The control API driven from another client and another process, and the process mode's lifecycle."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.constants import REPO, VIEW_PATH
from tests.replica import Replica
from tests.replica_tests.conftest import search


def test_publish_from_a_plain_http_client_adds_listed_reports(replica: Replica) -> None:
    with httpx.Client(base_url=replica.url, trust_env=False) as http:
        before = search(http, reportTypeCode="FB030020", reportYear="2026")["iTotalRecords"]
        answer = http.post("/_replica/publish", json={"count": 3, "report_type_code": "FB030020",
                                                      "report_year": "2026", "send_from": "2026-07-21"}).json()
        page = search(http, reportTypeCode="FB030020", reportYear="2026")
    assert page["iTotalRecords"] == before + 3
    assert {row["uploadInfoId"] for row in page["aaData"]} >= set(answer["ids"])
    assert {row["reportSendDate"] for row in page["aaData"]} == {"2026-07-21"}


def test_oracle_gives_the_sha256_of_what_the_page_serves(replica: Replica, http: httpx.Client) -> None:
    upload_info_id = search(http, reportTypeCode="FB010010", fundCode="013242")["aaData"][0]["uploadInfoId"]
    generated = replica.publish(1)[0]
    oracle = replica.oracle([upload_info_id, generated])
    for key in (upload_info_id, generated):
        body = http.get(VIEW_PATH, params={"instanceid": key}, follow_redirects=True).content
        assert oracle[key]["sha256"] == hashlib.sha256(body).hexdigest()
        assert (oracle[key]["state"], oracle[key]["reason"]) == ("stored", None)


def test_publish_with_faults_records_their_expected_outcome(replica: Replica) -> None:
    ids = replica.publish(4, "FB030030", "2025", faults={"not_found": 1, "huge_body": 1, "always_503": 1})
    outcomes = sorted((v["state"], v["reason"]) for v in replica.oracle(ids).values())
    assert outcomes == [("failed", "http_404"), ("failed", "retries_exhausted"), ("failed", "too_large"),
                        ("stored", None)]


def test_request_log_counts_requests_and_resets(replica: Replica, http: httpx.Client) -> None:
    replica.reset_log()
    http.get(VIEW_PATH, params={"instanceid": "1"})
    entries = replica.log()
    assert [(e["method"], e["path"], e["status"], e["kind"]) for e in entries] == [
        ("GET", VIEW_PATH, 404, "redirect")]
    assert entries[0]["client"] == "127.0.0.1" and entries[0]["bytes"] > 0 and entries[0]["query"] == "instanceid=1"
    assert replica.log(since=1) == [] and replica.log_position() == 1
    replica.reset_log()
    assert replica.log() == []


def test_bad_control_requests_are_refused_with_a_reason(replica: Replica) -> None:
    with httpx.Client(base_url=replica.url + "/_replica/", trust_env=False) as http:
        assert http.post("config", json={"no_such_switch": 1}).status_code == 400
        assert http.post("faults", json={"rate": 0.1, "kinds": ["meteor"]}).status_code == 400
        assert http.post("publish", json={"count": 1, "faults": {"meteor": 1}}).status_code == 400
        assert http.get("nothing").status_code == 404


def test_expected_document_of_a_generated_report(replica: Replica) -> None:
    generated = replica.publish(1, "FB030020", "2025")[0]
    row = replica.catalogue([generated])[0]
    document = replica.expected(generated)
    assert document["fund_code"] == row["fund_code"] and document["report_kind"] == "q2"
    assert document["send_date"] == row["send_date"]


def test_process_mode_prints_its_url_serves_and_stops_on_sigterm(corpus_dir: Path) -> None:
    replica = Replica.spawn("--corpus", str(corpus_dir), "--generate", "5", "--seed", "2")
    process = replica.process
    assert process is not None
    try:
        assert replica.health()["reports"] == 39 + 5
        with httpx.Client(base_url=replica.url, trust_env=False) as http:
            assert search(http, reportTypeCode="FB010010")["iTotalRecords"] == 29
        attached = Replica(url=replica.url)
        assert len(attached.catalogue()) == 44
        attached.close()
    finally:
        replica.close()
    assert process.returncode == 0


def test_process_mode_stops_on_sigint_and_explains_its_options() -> None:
    help_text = subprocess.run([sys.executable, "-m", "tests.replica", "--help"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout
    for option in ("--port", "--corpus", "--generate", "--seed", "/_replica/"):
        assert option in help_text
    process = subprocess.Popen([sys.executable, "-m", "tests.replica", "--port", "0"], cwd=REPO,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert httpx.get(url + "/_replica/health", trust_env=False).json()["ok"]
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(10) == 0
    process.stdout.close()


def test_publishing_at_a_rate_adds_reports_over_time(replica: Replica) -> None:
    before = len(replica.catalogue())
    assert replica.publish(3, "FB030040", "2025", rate=50.0) == []
    deadline = time.monotonic() + 10
    while len(replica.catalogue()) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(replica.catalogue()) == before + 3
