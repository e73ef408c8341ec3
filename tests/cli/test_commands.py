"""Every command through the real ``fundcrawl`` CLI, on SQLite and on PostgreSQL, against the replica.

One module-scoped crawl per engine feeds the status, export, reparse, parse and backfill tests that follow: on
SQLite ``run --once`` over the 39 real corpus pages, on PostgreSQL over 30 generated pages (quicker to parse); in
both, one report answers 404. None of those tests changes what the crawl stored, so they pass in any order; the
replay test, which does, crawls a small site of its own.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from crawler.export import partitioning_schema
from tests.cli.readme_queries import CHECKS, Crawled, readme_queries
from tests.e2e.harness import Daemon, page_fetches, schedule_yaml
from tests.replica import Replica
from tests.storage.fixtures import (  # noqa: F401  (pg_database_url: a fixture)
    fresh_database_url,
    pg_database_url,
    temporary_database,
)

CORPUS_SCHEDULE = schedule_yaml("corpus", "1h", "[annual, interim, q1, q2]", "[2024, 2025]") + (
    "  profiles:\n    every: 1h\n    discover:\n      report_types: [profile]\n      years: [all]\n")


SITES = {
    "sqlite": {"corpus": True},
    "postgresql": {"generate": 30, "seed": 3, "partitions": ["FB030010:2025", "FB010010:2024"]},
}


@pytest.fixture(scope="module", params=sorted(SITES))
def crawled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            corpus_dir: Path) -> Iterator[tuple[Daemon, Replica, dict]]:
    """The site crawled once with ``run --once``; one report answers 404 and ends failed."""
    tmp = tmp_path_factory.mktemp(f"cli-{request.param}")
    url = fresh_database_url(request.param, request, tmp)
    site = dict(SITES[request.param])
    if site.pop("corpus", False):
        site["corpus"] = corpus_dir
    with Replica(**site) as replica:
        catalogue = replica.catalogue()
        missing = catalogue[0]["upload_info_id"]
        replica.set_report_fault(missing, "not_found")
        daemon = Daemon(tmp, replica.url, url, schedule=CORPUS_SCHEDULE)
        daemon.command("db", "upgrade")
        first = daemon.command("run", "--once", check=False, timeout=600)
        yield daemon, replica, {
            "first": first, "missing": missing, "total": len(catalogue), "fund_code": catalogue[1]["fund_code"],
            "q1": sum(entry["report_type_code"] == "FB030010" for entry in catalogue if entry is not catalogue[0]),
        }


def test_run_once_stores_every_report_and_names_the_failure(crawled: tuple[Daemon, Replica, dict]) -> None:
    daemon, _replica, facts = crawled
    first = facts["first"]
    assert first.returncode == 1, first.stderr[-3000:]
    total = facts["total"]
    assert f"listed {total}, new {total}" in first.stdout
    assert f"failed {facts['missing']}" in first.stdout and "http_404" in first.stdout
    status = json.loads(daemon.command("status", "--json").stdout)
    assert status["reports"] == {"total": total, "stored": total - 1, "failed": 1, "pending": 0}
    assert status["recent_failures"][0]["failure_reason"] == "http_404"
    assert status["last_runs"] and status["partitions"]


def test_status_human_output_names_partitions_and_failures(crawled: tuple[Daemon, Replica, dict]) -> None:
    daemon, _replica, facts = crawled
    out = daemon.command("status").stdout
    total = facts["total"]
    assert f"reports: {total} total, {total - 1} stored, 0 pending, 1 failed" in out
    assert "annual 2024" in out and "recent failures:" in out and str(facts["missing"]) in out


def test_export_jsonl_csv_and_parquet(crawled: tuple[Daemon, Replica, dict], tmp_path: Path) -> None:
    daemon, _replica, facts = crawled
    stored = facts["total"] - 1
    daemon.command("export", "--format", "jsonl", "--out", str(tmp_path / "all.jsonl"))
    documents = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(documents) == stored
    assert all(d["schema"] == "fundcrawl.report/1" and d["upload_info_id"] for d in documents)

    daemon.command("export", "--format", "jsonl", "--out", str(tmp_path / "q1.jsonl"), "--report-type", "q1")
    q1 = (tmp_path / "q1.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(q1) == facts["q1"] and all(json.loads(line)["report_kind"] == "q1" for line in q1)

    fund_code = facts["fund_code"]
    daemon.command("export", "--format", "csv", "--out", str(tmp_path / "csv"), "--fund-code", fund_code)
    with (tmp_path / "csv" / "reports.csv").open(encoding="utf-8") as handle:
        assert {row["fund_code"] for row in csv.DictReader(handle)} == {fund_code}
    with (tmp_path / "csv" / "share_changes.csv").open(encoding="utf-8") as handle:
        assert {row["upload_info_id"] for row in csv.DictReader(handle)} <= {
            str(d["upload_info_id"]) for d in documents if d["fund_code"] == fund_code}

    daemon.command("export", "--format", "parquet", "--out", str(tmp_path / "pq"))
    nav = pq.read_table(tmp_path / "pq" / "nav_values.parquet")
    assert nav.num_rows >= stored and str(nav.schema.field("nav_per_unit").type).startswith("decimal128")
    holdings = pq.read_table(tmp_path / "pq" / "holdings.parquet").to_pylist()
    assert holdings and "stock" in {row["kind"] for row in holdings}
    assert (tmp_path / "csv" / "datapackage.json").is_file()

    first = daemon.command("export", "--format", "parquet", "--partitioned", "--out", str(tmp_path / "lake"))
    again = daemon.command("export", "--format", "parquet", "--partitioned", "--out", str(tmp_path / "lake"))
    assert " 0 written" not in first.stderr and " 0 written, " in again.stderr and " 0 removed" in again.stderr
    keys = ds.partitioning(partitioning_schema(), flavor="hive")
    lake = ds.dataset(tmp_path / "lake" / "holdings", format="parquet", partitioning=keys).to_table()
    assert lake.num_rows == len(holdings)
    # The reports of the crawled lake read back typed as the flat export has them, keys taken from the path.
    flat = pq.read_table(tmp_path / "pq" / "reports.parquet")
    reports = ds.dataset(tmp_path / "lake" / "reports", format="parquet", partitioning=keys).to_table()
    assert reports.select(flat.column_names).schema == flat.schema
    assert sorted(reports.select(["upload_info_id", "report_kind", "period_end"]).to_pylist(),
                  key=lambda row: row["upload_info_id"]) == sorted(
        flat.select(["upload_info_id", "report_kind", "period_end"]).to_pylist(), key=lambda row: row["upload_info_id"])


def test_readme_analyst_queries_answer_right_on_the_crawled_database(
        crawled: tuple[Daemon, Replica, dict], tmp_path: Path) -> None:
    daemon, _replica, _facts = crawled
    daemon.command("export", "--format", "jsonl", "--out", str(tmp_path / "all.jsonl"))
    daemon.command("export", "--format", "csv", "--out", str(tmp_path / "csv"))
    db = Crawled.load(daemon.database_url, tmp_path / "all.jsonl", tmp_path / "csv" / "reports.csv")
    queries = readme_queries()
    assert set(queries) == set(CHECKS), "every README query needs a check in tests/cli/readme_queries.py"
    for name, sql in queries.items():
        CHECKS[name](db, sql)


@pytest.fixture(params=sorted(SITES))
def failed_once(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Daemon, Replica, int, int]]:
    """A small site crawled with ``run --once`` into a database of its own; one report answered 404 and failed.

    Its own, because replaying the failure changes what the module's crawl holds for the tests beside it.
    """
    with ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'fundcrawl.sqlite'}" if request.param == "sqlite"
               else stack.enter_context(temporary_database("fundcrawl_test_replay")))
        replica = stack.enter_context(Replica(generate=6, seed=5, partitions=["FB030010:2025"]))
        missing = replica.catalogue()[0]["upload_info_id"]
        replica.set_report_fault(missing, "not_found")
        daemon = Daemon(tmp_path, replica.url, url, schedule=CORPUS_SCHEDULE)
        daemon.command("db", "upgrade")
        assert daemon.command("run", "--once", check=False, timeout=300).returncode == 1
        yield daemon, replica, missing, len(replica.catalogue())


def test_replay_retries_failures_and_rerun_downloads_nothing(failed_once: tuple[Daemon, Replica, int, int]) -> None:
    daemon, replica, missing, total = failed_once
    replica.reset_log()
    again = daemon.command("run", "--once", check=False, timeout=300)
    assert again.returncode == 0 and "new 0" in again.stdout
    assert page_fetches(replica.log()) == {}

    replica.set_report_fault(missing, None)
    replayed = daemon.command("replay", "--reason", "http_404", "--here", timeout=300)
    assert "replayed 1 report(s); 0 did not end stored" in replayed.stdout
    assert json.loads(daemon.command("status", "--json").stdout)["reports"]["stored"] == total


def test_reparse_only_touches_older_parser_versions(crawled: tuple[Daemon, Replica, dict]) -> None:
    daemon, _replica, facts = crawled
    assert "re-parsed 0 report(s)" in daemon.command("reparse", "--here").stdout
    stored = facts["total"] - 1
    everything = daemon.command("reparse", "--all", "--here", timeout=600).stdout
    # The same parser: every page parses to what is stored, so nothing is rewritten.
    assert f"re-parsed {stored} report(s)" in everything
    assert f"0 updated, {stored} unchanged, 0 could not be re-parsed" in everything


def test_parse_writes_one_document_per_file(crawled: tuple[Daemon, Replica, dict], corpus_dir: Path,
                                            tmp_path: Path) -> None:
    daemon, _replica, _facts = crawled
    pages = sorted(corpus_dir.glob("*_2025_q1.html"))
    printed = daemon.command("parse", *map(str, pages)).stdout.splitlines()
    assert [json.loads(line)["fund_code"] for line in printed] == [p.name[:6] for p in pages]
    daemon.command("parse", *map(str, pages), "--out", str(tmp_path))
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == [p.stem for p in pages]
    (tmp_path / "junk.html").write_text("<html><body>not a report</body></html>", encoding="utf-8")
    bad = daemon.command("parse", str(tmp_path / "junk.html"), check=False)
    assert bad.returncode == 1 and "junk.html" in bad.stderr


def test_parse_and_archive_cat_read_stored_pages_from_the_database(crawled: tuple[Daemon, Replica, dict]) -> None:
    daemon, replica, facts = crawled
    stored = next(entry for entry in replica.catalogue() if entry["upload_info_id"] != facts["missing"])
    upload_info_id = stored["upload_info_id"]
    document = json.loads(daemon.command("parse", "--id", str(upload_info_id)).stdout)
    assert document == daemon.store().document(upload_info_id)
    page = subprocess.run([sys.executable, "-m", "crawler", "archive", "cat", str(upload_info_id)], env=daemon.env,
                          capture_output=True, timeout=120, check=True).stdout
    assert hashlib.sha256(page).hexdigest() == replica.oracle([upload_info_id])[upload_info_id]["sha256"]
    assert "pages: " in daemon.command("archive", "stats").stdout
    missing = daemon.command("parse", "--id", "999999999", check=False)
    assert missing.returncode == 1 and "report 999999999 has no archived page" in missing.stderr


def test_backfill_resumes_and_finds_nothing_new(crawled: tuple[Daemon, Replica, dict]) -> None:
    daemon, _replica, _facts = crawled
    result = daemon.command("backfill", "--report-types", "annual,q1", "--years", "2024-2025")
    # Every report of those partitions is known already (stored, or failed).
    assert "4/4 partition(s) done" in result.stdout and "0 new report(s) queued" in result.stdout


def test_check_passes_against_the_replica(crawled: tuple[Daemon, Replica, dict]) -> None:
    daemon, _replica, _facts = crawled
    lines = [line for line in daemon.command("check").stdout.splitlines() if not line.startswith(" ")]
    assert [line.split()[:2] for line in lines] == [["PASS", name] for name in
                                                    ("configuration", "beat", "database", "broker", "sentry", "site")]


def _run_on_pty(daemon: Daemon, *args: str) -> str:
    """Run a fundcrawl command with its stderr on a pseudo-terminal, as a person at a terminal would."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "crawler", *args], env=daemon.env, stdout=subprocess.DEVNULL,
                               stderr=follower, stdin=follower)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_is_a_bar_on_a_terminal_and_log_lines_otherwise(crawled: tuple[Daemon, Replica, dict],
                                                                 tmp_path: Path) -> None:
    daemon, _replica, facts = crawled
    on_terminal = _run_on_pty(daemon, "export", "--format", "jsonl", "--out", str(tmp_path / "a.jsonl"))
    assert "exporting:" in on_terminal and "%|" in on_terminal and "report/s" in on_terminal
    stored = facts["total"] - 1
    plain = daemon.command("export", "--format", "jsonl", "--out", str(tmp_path / "b.jsonl")).stderr
    assert f"exporting: {stored}/{stored} done" in plain and "ETA" in plain and "%|" not in plain
