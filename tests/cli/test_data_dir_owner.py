"""The data dir has one daemon at a time: a second one says which process owns it and exits 2; once the owner is
gone (even SIGKILLed, leaving its lock file behind) the next daemon starts and finishes the work at once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Daemon
from tests.replica import Replica


@pytest.fixture
def replica() -> Iterator[Replica]:
    replica = Replica(generate=12, seed=41, partitions=["FB030010:2025"])
    replica.start()
    yield replica
    replica.close()


def test_a_second_daemon_names_the_owner_and_exits_2(tmp_path: Path, replica: Replica) -> None:
    daemon = Daemon(tmp_path, replica.url, "")  # the embedded default: SQLite database and broker in the data dir
    daemon.command("db", "upgrade")
    owner = daemon.start("owner", "run", "-c", "1", "--loglevel", "INFO")
    try:
        lock = daemon.data_dir / "daemon.lock"
        daemon.wait_for("the owner to take the data dir", lambda: lock.exists() and lock.read_text() != "", 60)
        for command in (["run", "--once"], ["run"], ["worker"]):
            second = daemon.command(*command, check=False, timeout=60)
            assert second.returncode == 2, (command, second.stderr)
            assert f"pid {owner.pid}" in second.stderr and str(lock) in second.stderr, second.stderr
            assert "Traceback" not in second.stderr
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait(10)
        time.sleep(0.5)  # its consumers die with it (parent-death signal)
        assert lock.read_text() != "", "a killed owner leaves its lock file behind"
        rerun = daemon.command("run", "--once", check=False, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert "12 stored" in rerun.stdout, rerun.stdout
    finally:
        daemon.stop_all(timeout=10)
