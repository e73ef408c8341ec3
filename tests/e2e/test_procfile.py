"""The Procfile's own commands, run as a Procfile runner would (through a shell), on Redis and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.constants import REPO
from tests.e2e.harness import Daemon, page_fetches, redis_broker
from tests.replica import Replica
from tests.storage.fixtures import empty_postgres, pg_database_url  # noqa: F401  (fixture)


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_procfile_processes_crawl_the_replica(tmp_path: Path, pg_database_url: str) -> None:  # noqa: F811
    processes = procfile()
    assert {"release", "worker", "beat"} <= set(processes)
    empty_postgres(pg_database_url)
    with Replica(generate=12, seed=11) as replica, redis_broker(db=12) as broker:
        daemon = Daemon(tmp_path, replica.url, pg_database_url, broker)
        env = {**daemon.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        subprocess.run(["bash", "-c", processes["release"]], env=env, cwd=tmp_path, check=True, timeout=120)
        running = [subprocess.Popen(["bash", "-c", processes[name]], env=env, cwd=tmp_path,
                                    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for name in ("worker", "beat")]
        daemon.processes.extend(running)
        try:
            store = daemon.store()
            daemon.wait_for("12 stored reports", lambda: store.counts()["stored"] == 12)
            assert set(page_fetches(replica.log()).values()) == {1}
        finally:
            daemon.stop_all()  # SIGTERM to each process group: the shell and the fundcrawl process under it
