"""``run --once`` as a person at a terminal meets it: log lines above the progress bar, Ctrl-C that says how to
resume and leaves no worker behind, SIGTERM likewise.

Cost: about a minute; the replica is slowed to a few requests per second so there is a crawl to interrupt.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.constants import REPO
from tests.e2e.harness import Daemon
from tests.e2e.test_shipped_schedule import alive, children
from tests.replica import Replica

REPORTS = 24


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(generate=REPORTS, seed=21, partitions=["FB030010:2025"]) as site:
        yield site


def make(tmp_path: Path, replica: Replica, rate: str = "4") -> Daemon:
    return Daemon(tmp_path, replica.url, f"sqlite:///{tmp_path / 'data' / 'fundcrawl.sqlite'}",
                  env_extra={"FUNDCRAWL_RATE_LIMIT": rate})


def on_pty(daemon: Daemon, *args: str) -> tuple[int, str]:
    """Run a fundcrawl command with stderr on a pseudo-terminal; returns its exit code and what the terminal got."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "crawler", *args], env=daemon.env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=follower, stdin=follower)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    code = process.wait(timeout=300)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_log_lines_print_above_the_progress_bar(tmp_path: Path, replica: Replica) -> None:
    daemon = make(tmp_path, replica, rate="20")
    code, terminal = on_pty(daemon, "run", "--once", "-v")
    assert code == 0, terminal[-3000:]
    assert "processing:" in terminal and "%|" in terminal
    segments = re.split(r"[\r\n]", terminal)
    logged = [segment for segment in segments if re.search(r"Z (INFO|WARNING) ", segment)]
    assert logged, "with -v the worker's INFO lines reach the terminal"
    assert not [segment for segment in logged if "%|" in segment], "a log line was written into the bar's line"
    _code, quiet = on_pty(daemon, "run", "--once")
    assert "-------------- " not in quiet and "superuser" not in quiet and " INFO " not in quiet


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_once_stops_its_worker_and_says_how_to_resume(tmp_path: Path, replica: Replica,
                                                                      signum: int, code: int) -> None:
    daemon = make(tmp_path, replica)
    run = daemon.start("once", "run", "--once")
    try:
        daemon.wait_for("the schema", lambda: "database schema created" in daemon.logs_text(), timeout=60)
        store = daemon.store()
        daemon.wait_for("a first stored report", lambda: store.counts()["stored"] >= 1, timeout=120)
        kids = children(run.pid)
        assert kids, "run --once has a worker child"
        run.send_signal(signum)
        assert run.wait(90) == code
        deadline = time.monotonic() + 10
        while any(alive(kid) for kid in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(kid) for kid in kids), "the worker outlived run --once"
        assert "run the same command again to resume" in daemon.logs_text()
        assert store.counts()["stored"] < REPORTS
    finally:
        daemon.stop_all()
    again = daemon.command("run", "--once", timeout=300)
    assert "listed" in again.stdout
    assert daemon.store().counts() == {"total": REPORTS, "stored": REPORTS, "failed": 0, "pending": 0}


def test_backfill_wait_counts_partitions_and_ends_with_a_summary(tmp_path: Path, replica: Replica) -> None:
    daemon = make(tmp_path, replica, rate="20")
    daemon.command("db", "upgrade")
    result = daemon.command("backfill", "--report-types", "q1", "--years", "2025", "--wait", timeout=300)
    assert "listing: 1/1 done" in result.stderr and "partitions/s" in result.stderr and "report/s" not in result.stderr
    assert f"{REPORTS} new report(s) queued" in result.stdout
    assert result.stdout.strip().endswith(f"database now holds {REPORTS} stored, 0 failed, 0 pending report(s)")
