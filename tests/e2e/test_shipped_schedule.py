"""What ships, run as a user runs it: beat with ``schedules/default.yaml``, its ``reverify`` entry run by a real
worker, and ``fundcrawl run`` on a cron entry from an empty data dir (no ``db upgrade``), on the embedded SQLite
database and broker.

Cost: about 2.5 minutes in all; the ``run`` test waits for the next whole minute (its cron fires every minute).
"""

from __future__ import annotations

import os
import shelve
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crawler.storage.tables import discovery_runs
from tests.constants import REPO
from tests.e2e.harness import Daemon
from tests.replica import Replica

SHIPPED_SCHEDULE = REPO / "schedules" / "default.yaml"
REPORTS = 12
MINUTELY = ("schedules:\n  minutely:\n    cron: '* * * * *'\n    discover:\n      report_types: [q1]\n"
            "      years: [2025]\n")


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(generate=REPORTS, seed=12, partitions=["FB030010:2025"]) as site:
        yield site


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_beat_runs_the_shipped_schedule_and_persists_it(tmp_path: Path, replica: Replica) -> None:
    daemon = Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'data' / 'fundcrawl.sqlite'}",
                    env_extra={"FUNDCRAWL_SCHEDULES": str(SHIPPED_SCHEDULE)})
    try:
        daemon.command("db", "upgrade")
        beat = daemon.start("beat", "beat")
        # The reconciler entry fires every 5 s here: two sends prove beat loaded, saved and keeps ticking.
        daemon.wait_for("two beat ticks", lambda: daemon.logs_text().count("Sending due task fundcrawl-reconcile") >= 2,
                        timeout=60)
        assert beat.poll() is None, daemon.logs()
        os.killpg(beat.pid, signal.SIGTERM)
        # Beat's log in the message: CI once saw exit 1 here, and a bare exit code does not say why.
        assert beat.wait(30) == 0, daemon.logs()
    finally:
        daemon.stop_all()
    assert "Traceback" not in daemon.logs_text()
    with shelve.open(str(daemon.data_dir / "celerybeat-schedule"), flag="r") as state:
        entries = state["entries"]
    assert {"recent-periodic-reports", "fund-profiles", "nightly-reconcile", "reverify-stored-reports"} <= set(entries)
    assert str(entries["recent-periodic-reports"].schedule.nowfun().tzinfo) == "Asia/Shanghai"


def test_check_prints_the_shipped_schedule_next_runs(tmp_path: Path, replica: Replica) -> None:
    daemon = Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'data' / 'fundcrawl.sqlite'}",
                    env_extra={"FUNDCRAWL_SCHEDULES": str(SHIPPED_SCHEDULE)})
    daemon.command("db", "upgrade")
    result = daemon.command("check", check=False)
    lines = result.stdout.splitlines()
    assert any(line.startswith("PASS  beat") for line in lines), result.stdout
    next_times = {"recent-periodic-reports": ":15:00 CST", "fund-profiles": ":45:00 CST",
                  "nightly-reconcile": " 03:30:00 CST", "reverify-stored-reports": " 02:00:00 CST"}
    for name, time_of_day in next_times.items():
        line = next(line for line in lines if line.endswith(f"  {name}"))
        assert "next run" in line and time_of_day in line, line
    assert not list(daemon.data_dir.glob("celerybeat-schedule*")), "check must not leave a beat state file"


def test_run_from_an_empty_data_dir_stores_what_a_minutely_cron_finds(tmp_path: Path, replica: Replica) -> None:
    # FUNDCRAWL_DATABASE_URL empty = the embedded default database in the data dir, which does not exist yet.
    daemon = Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'data' / 'fundcrawl.sqlite'}", schedule=MINUTELY,
                    env_extra={"FUNDCRAWL_DATABASE_URL": ""})
    assert not daemon.data_dir.exists()
    run = daemon.start("run", "run")
    try:
        daemon.wait_for("the database", lambda: (daemon.data_dir / "fundcrawl.sqlite").exists(), timeout=60)
        daemon.wait_for("the schema", lambda: "database schema created" in daemon.logs_text(), timeout=60)
        store = daemon.store()
        daemon.wait_for(f"{REPORTS} stored reports", lambda: store.counts()["stored"] == REPORTS, timeout=150)
        assert store.counts() == {"total": REPORTS, "stored": REPORTS, "failed": 0, "pending": 0}
        out = daemon.logs_text()
        assert "next run" in out and "minutely" in out and "CST" in out
        assert "-------------- celery@" not in out and "superuser privileges" not in out  # no banner, no essay

        # SIGTERM to `run` alone (not its process group) stops its worker and beat too.
        kids = children(run.pid)
        assert len(kids) == 2
        run.send_signal(signal.SIGTERM)
        assert run.wait(60) == 0
        deadline = time.monotonic() + 10
        while any(alive(kid) for kid in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(kid) for kid in kids)
    finally:
        daemon.stop_all()


def test_run_stops_and_says_so_when_beat_dies(tmp_path: Path, replica: Replica) -> None:
    daemon = Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'data' / 'fundcrawl.sqlite'}", schedule=MINUTELY)
    run = daemon.start("run", "run")
    try:
        daemon.wait_for("beat", lambda: "beat: Starting" in daemon.logs_text(), timeout=60)
        beat = next(kid for kid in children(run.pid) if " beat" in Path(f"/proc/{kid}/cmdline").read_text()
                    .replace("\0", " "))
        os.kill(beat, signal.SIGKILL)
        assert run.wait(90) == 3
        assert "the beat process exited with code -9" in daemon.logs_text()
    finally:
        daemon.stop_all()


def test_the_daemon_runs_the_shipped_reverify_entry(tmp_path: Path, replica: Replica) -> None:
    """About 10 s: the shipped reverify entry, queued by ``fundcrawl discover``, runs to completion in a worker."""
    entry = "reverify-stored-reports"
    daemon = Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'data' / 'fundcrawl.sqlite'}",
                    env_extra={"FUNDCRAWL_SCHEDULES": str(SHIPPED_SCHEDULE)})
    statement = select(discovery_runs.c.status).where(discovery_runs.c.schedule == entry)
    try:
        daemon.command("db", "upgrade")
        daemon.start("daemon", "run")
        queued = daemon.command("discover", "--schedule", entry)
        assert f"queued discovery for {entry}" in queued.stdout
        store = daemon.store()
        daemon.wait_for(f"a finished run of {entry}", timeout=120, condition=lambda: "ok" in store.read(
            lambda connection: list(connection.scalars(statement))))
    finally:
        daemon.stop_all()
