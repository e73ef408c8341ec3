"""The embedded default with its archive on a disk that is full: ``run --once`` waits and says why, no report
fails for it, and once space is freed every report is stored once, byte-exact, with no lease to wait out.

The disk is a real size-capped tmpfs mounted on the data dir's ``archive`` (the test runs as root).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.diskspace import small_disk
from tests.e2e.harness import Daemon, schedule_yaml
from tests.replica import Replica

REPORTS = 12


def _rows(url: str) -> dict[int, tuple[str, str | None, int, str | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {row[0]: tuple(row[1:]) for row in connection.execute(text(
                "SELECT upload_info_id, state, page_sha256, attempts, last_error FROM reports"))}
    finally:
        engine.dispose()


def test_run_once_waits_out_a_full_archive_disk_then_stores_everything_once(tmp_path: Path) -> None:
    with Replica(generate=REPORTS, seed=21, partitions=["FB030010:2025"]) as replica:
        oracle = replica.oracle()
        daemon = Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'fundcrawl.sqlite'}",
                        schedule=schedule_yaml("tick", "1h", "[q1]", "[2025]"),
                        env_extra={"FUNDCRAWL_MAX_ATTEMPTS": "2", "FUNDCRAWL_RETRY_BACKOFF_MAX": "5"})
        daemon.command("db", "upgrade")
        with small_disk(daemon.data_dir / "archive", "1m") as disk:
            disk.fill()
            once = daemon.start("once", "run", "--once")
            try:
                # Each report meets the full disk at least twice, more than its whole budget of 2 attempts.
                daemon.wait_for("every report to meet the full disk twice", lambda: (
                    "waiting: no space left on the archive's disk" in daemon.logs_text()
                    and len(rows := _rows(daemon.database_url)) == REPORTS
                    and all(row[3] and "OutOfSpaceError" in row[3] for row in rows.values())
                    and daemon.logs_text().count("waiting: no space left") >= 2 * REPORTS), timeout=240)
                rows = _rows(daemon.database_url)
                assert {row[0] for row in rows.values()} <= {"pending", "fetching"}, rows
                assert once.poll() is None, "run --once must not exit while the disk is full"
                disk.free()
                code = once.wait(timeout=180)
            finally:
                daemon.stop_all()
            archived = {path.name[:-5]: path.read_bytes() for path in disk.mount.rglob("*.html")}
            debris = [path for path in disk.mount.rglob(".tmp-*")]
    assert code == 0, daemon.logs()
    rows = _rows(daemon.database_url)
    assert set(rows) == set(oracle)
    assert all(row[0] == "stored" and row[1] == oracle[upload_id]["sha256"] for upload_id, row in rows.items())
    assert sorted(archived) == sorted(entry["sha256"] for entry in oracle.values())
    assert all(hashlib.sha256(body).hexdigest() == sha for sha, body in archived.items())
    assert debris == []
