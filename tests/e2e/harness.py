"""Run the real daemon in child processes against a replica: environment, processes, waits, oracles.

Used by the end-to-end tests and by the chaos battery: every process is a real ``fundcrawl`` command started
with ``start_new_session`` and signalled by its own pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from crawler.storage import Store
from tests.constants import REPO

REDIS_URL = "redis://127.0.0.1:6379"


def schedule_yaml(entry: str = "tick", every: str = "3s", types: str = "[q1]", years: str = "[2025]",
                  extra: str = "") -> str:
    return (f"schedules:\n  {entry}:\n    every: {every}\n    discover:\n      report_types: {types}\n"
            f"      years: {years}\n{extra}")


#: The corrections tests' schedule: a ``reverify`` entry over every stored Q1 2025 report, then discovery of Q1 2025.
#: ``run --once`` runs the entries in this order: re-checking first sees exactly the reports stored by the first run.
CORRECTIONS_SCHEDULE = """\
schedules:
  reverify-all:
    every: 1h
    reverify:
      report_types: [q1]
      years: [2025]
      max_requests: 100
      min_interval: 1s
      age_divisor: 1000000000
  quarterly:
    every: 1h
    discover:
      report_types: [q1]
      years: [2025]
"""


@dataclass
class Daemon:
    """One deployment under test: its settings (as environment) and the processes it runs."""

    tmp: Path
    source_url: str
    database_url: str
    broker_url: str | None = None
    workers: int = 1
    schedule: str = field(default_factory=schedule_yaml)
    env_extra: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = self.tmp / "data"
        self.schedule_file = self.tmp / "schedules.yaml"
        self.schedule_file.write_text(self.schedule, encoding="utf-8")
        self.log_dir = self.tmp / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDCRAWL_")}
        env.update({
            "FUNDCRAWL_SOURCE_URL": self.source_url,
            "FUNDCRAWL_DATA_DIR": str(self.data_dir),
            "FUNDCRAWL_DATABASE_URL": self.database_url,
            "FUNDCRAWL_SCHEDULES": str(self.schedule_file),
            "FUNDCRAWL_RATE_LIMIT": "50",
            "FUNDCRAWL_RECONCILE_EVERY": "5",
            "FUNDCRAWL_POLITENESS_KEY_PREFIX": f"fundcrawl-test:{self.tmp.name}",
            "PYTHONUNBUFFERED": "1",
        })
        if self.broker_url:
            env["FUNDCRAWL_BROKER_URL"] = self.broker_url
        env.update(self.env_extra)
        return env

    def command(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one ``fundcrawl`` command to completion."""
        result = subprocess.run([sys.executable, "-m", "crawler", *args], env=self.env, cwd=REPO,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"fundcrawl {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
        return result

    def start(self, name: str, *args: str, interruptible: bool = False) -> subprocess.Popen[bytes]:
        """Start a long-running ``fundcrawl`` process (worker, beat, run), logging to logs/<name>.log.

        ``interruptible``: with SIGINT at its default, as a command typed at a terminal has it, even when this
        test process was started with SIGINT ignored (in the background of a non-interactive shell, say).
        """
        log = (self.log_dir / f"{name}.log").open("ab")
        # A handled signal is at its default in the exec'd child; an ignored one would stay ignored.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler) if interruptible else None
        try:
            process = subprocess.Popen([sys.executable, "-m", "crawler", *args], env=self.env, cwd=REPO,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if interruptible:
                signal.signal(signal.SIGINT, previous)
        self.processes.append(process)
        return process

    def stop_all(self, timeout: float = 30) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-6000:]}" for p in self.log_dir.iterdir())

    def logs_text(self) -> str:
        """Everything every process logged, in full (for scans: secrets, crash markers)."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.iterdir()))

    def store(self) -> Any:
        """The deployment's store; an unset database URL means the embedded default in the data dir."""
        return Store.from_url(self.database_url or f"sqlite:///{(self.data_dir / 'fundcrawl.sqlite').resolve()}")

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = 180) -> None:
        """Poll until ``condition`` holds; fail with the processes' logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            for process in self.processes:
                if process.poll() is not None:
                    raise AssertionError(f"a daemon process exited ({process.returncode}) while waiting for "
                                         f"{what}\n{self.logs()}")
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")


@contextmanager
def redis_broker(db: int) -> Iterator[str]:
    """A Redis database reserved for one test (flushed before and after; never FLUSHALL)."""
    client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
    client.flushdb()
    try:
        yield f"{REDIS_URL}/{db}"
    finally:
        client.flushdb()
        client.close()


def page_fetches(log: list[dict[str, Any]]) -> dict[str, int]:
    """Report-page GETs per path in a replica request log."""
    counts: dict[str, int] = {}
    for entry in log:
        if "/xbrl/REPORT/HTML/" in entry.get("path", "") and entry.get("method") == "GET":
            counts[entry["path"]] = counts.get(entry["path"], 0) + 1
    return counts
