"""The embedded default with its database (which holds the page archive) on a disk that is full: the worker waits
and says why, no report fails for it, and once space is freed every report is stored once, its page byte-exact.

The disk is a real size-capped tmpfs mounted on the folder of the SQLite database (the test runs as root). The
worker starts before the disk fills; a worker process opening the database on the full disk waits too.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Connection, create_engine, text

from crawler.archive import PageArchive, sha256_of
from crawler.models import ReportRef
from crawler.storage import Store, dispose_engines
from tests.constants import REPO
from tests.diskspace import small_disk
from tests.e2e.harness import Daemon, schedule_yaml
from tests.replica import Replica

REPORTS = 12


def _rows(connection: Connection) -> dict[int, tuple[str, str | None]]:
    return {row[0]: tuple(row[1:]) for row in connection.execute(text(
        "SELECT upload_info_id, state, page_sha256 FROM reports"))}


def _all_stored(connection: Connection) -> bool:
    try:
        return all(row[0] == "stored" for row in _rows(connection).values())
    finally:
        connection.rollback()  # a fresh snapshot each look


def _refs(catalogue: list[dict]) -> list[ReportRef]:
    return [ReportRef(upload_info_id=entry["upload_info_id"], report_type_code=entry["report_type_code"],
                      fund_code=entry["fund_code"], fund_short_name=entry["fund_short_name"],
                      organ_name=entry["organ_name"], report_year=entry["report_year"],
                      report_desp=entry["report_desp"], send_date=dt.date.fromisoformat(entry["send_date"]))
            for entry in catalogue]


def test_a_worker_waits_out_a_full_database_disk_then_stores_everything_once(tmp_path: Path) -> None:
    with Replica(generate=REPORTS, seed=21, partitions=["FB030010:2025"]) as replica:
        oracle = replica.oracle()
        with small_disk(tmp_path / "db", "8m") as disk:
            url = f"sqlite:///{disk.mount / 'fundcrawl.sqlite'}"
            daemon = Daemon(tmp_path, replica.url, url, schedule=schedule_yaml("tick", "1h", "[q1]", "[2025]"),
                            env_extra={"FUNDCRAWL_MAX_ATTEMPTS": "2", "FUNDCRAWL_RETRY_BACKOFF_MAX": "5"})
            daemon.command("db", "upgrade")
            ids = Store.from_url(url).add_discovered(_refs(replica.catalogue()))
            dispose_engines()
            # The test watches through a connection opened before the disk fills, as an analyst's session would
            # be: opening SQLite in WAL mode on a full disk fails once no other process holds it open.
            watcher = create_engine(url)
            connection = watcher.connect()
            assert len(_rows(connection)) == REPORTS  # a first read maps the database's shared-memory index
            connection.rollback()
            try:
                daemon.start("worker", "worker", "-c", "1", "--loglevel", "INFO")
                daemon.wait_for("the worker to start", lambda: "ready" in daemon.logs_text(), timeout=60)
                disk.fill()
                publish = "import sys; from crawler.tasks import publish_reports; publish_reports(" \
                          "[int(a) for a in sys.argv[1:]])"
                subprocess.run([sys.executable, "-c", publish, *map(str, ids)], env=daemon.env, cwd=REPO,
                               check=True, capture_output=True, timeout=120)
                # Each report meets the full disk at least twice, more than its whole budget of 2 attempts.
                daemon.wait_for("every report to meet the full disk twice", lambda: (
                    daemon.logs_text().count("waiting: the database's disk is full") >= 2 * REPORTS), timeout=240)
                assert {row[0] for row in _rows(connection).values()} <= {"pending", "fetching"}
                connection.rollback()
                disk.free()
                daemon.wait_for("every report stored", lambda: _all_stored(connection), timeout=180)
                rows = _rows(connection)
            finally:
                connection.close()
                watcher.dispose()
                daemon.stop_all()
            archive = PageArchive(Store.from_url(url))
            pages = {sha: archive.read(sha) for _state, sha in rows.values() if sha}
            dispose_engines()
    assert set(rows) == set(oracle)
    assert all(row == ("stored", oracle[upload_id]["sha256"]) for upload_id, row in rows.items())
    assert all(sha256_of(body) == sha for sha, body in pages.items()) and len(pages) == REPORTS
