"""One archive for the whole fleet, on PostgreSQL + Redis with real processes.

Two workers with separate data dirs store 100 reports from the replica; the fleet re-parses them from its own
queue (``reparse --all --wait``), storing what a parser fixed without a version bump produces; then
``reparse --all --here`` from a third, empty data dir re-parses all 100 and exits 0. What the pages cost (their
compressed bodies and references in the database, plus every data dir) stays under 10% of the bytes served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from crawler.storage import make_engine
from tests.e2e.harness import Daemon, redis_broker, schedule_yaml
from tests.replica import Replica
from tests.storage.fixtures import empty_postgres, pg_database_url  # noqa: F401  (fixture)

REPORTS = 100
REDIS_DB = 10
SCHEDULE = schedule_yaml("fleet", "1h", "[q1, annual]", "[2024, 2025]")


@pytest.fixture
def fleet(tmp_path: Path, pg_database_url: str) -> Iterator[tuple[Replica, list[Daemon]]]:  # noqa: F811
    empty_postgres(pg_database_url)
    with Replica(generate=REPORTS, seed=14, partitions=["FB030010:2025", "FB010010:2024"]) as replica, \
            redis_broker(db=REDIS_DB) as broker_url:
        for name in ("a", "b", "c"):
            (tmp_path / name).mkdir()
        machines = [Daemon(tmp_path / name, replica.url, pg_database_url, broker_url, schedule=SCHEDULE)
                    for name in ("a", "b", "c")]
        try:
            yield replica, machines
        finally:
            for machine in machines:
                machine.stop_all()


def _bytes_under(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def test_any_machine_re_parses_every_page_the_fleet_stored(fleet: tuple[Replica, list[Daemon]]) -> None:
    replica, (first, second, third) = fleet
    first.command("db", "upgrade")
    for machine in (first, second):
        machine.start("worker", "worker", "-c", "1", "--loglevel", "INFO")
    first.command("discover")
    store = first.store()
    first.wait_for(f"{REPORTS} stored reports", lambda: store.counts()["stored"] == REPORTS, timeout=300)
    oracle = replica.oracle()
    with make_engine(first.database_url).connect() as connection:
        stored = dict(connection.execute(text("SELECT upload_info_id, page_sha256 FROM reports")).all())
    assert stored == {upload_info_id: entry["sha256"] for upload_info_id, entry in oracle.items()}
    totals = store.archive_totals()
    served = totals["raw_bytes"]  # the pages' sizes; each one's bytes carry the site's sha256 (read back below)
    assert totals["pages"] == REPORTS
    # What the pages cost: their compressed bodies and references in the database, plus every data dir (which
    # holds no page at all). The parsed rows come on top; bench/archive.py measures the whole database growth
    # on real pages (these generated ones are small, so their rows weigh more than real pages' do).
    pages_cost = (totals["page_bytes"] + totals["reference_bytes"]
                  + sum(_bytes_under(machine.data_dir) for machine in (first, second, third)))
    assert pages_cost * 10 <= served, (pages_cost, served)

    # A parser fixed without a version bump: what the old one stored for 7 reports was wrong.
    with make_engine(first.database_url).begin() as connection:
        wrong = connection.execute(text(
            "UPDATE report_documents SET document = CAST(:doc AS json) WHERE upload_info_id IN "
            "(SELECT upload_info_id FROM reports ORDER BY upload_info_id LIMIT 7)"),
            {"doc": json.dumps({"schema": "fundcrawl.report/1", "fund_code": "wrong"})}).rowcount
    assert wrong == 7
    fleet_run = third.command("reparse", "--all", "--wait", timeout=300)
    assert f"re-parsed {REPORTS} report(s)" in fleet_run.stdout, fleet_run.stderr[-3000:]
    assert f"7 updated, {REPORTS - 7} unchanged, 0 could not be re-parsed" in fleet_run.stdout
    assert all(store.document(entry["upload_info_id"])["fund_code"] != "wrong" for entry in replica.catalogue())

    for machine in (first, second):
        machine.stop_all()
    here = third.command("reparse", "--all", "--here", timeout=300)
    assert here.returncode == 0
    assert f"re-parsed {REPORTS} report(s)" in here.stdout
    assert f"0 updated, {REPORTS} unchanged, 0 could not be re-parsed" in here.stdout
    assert not (third.data_dir / "archive").exists()  # every page came from the database
