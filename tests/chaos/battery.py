"""The chaos battery's driver: a deployment under test, its supervisor, fault injection and the figures.

A :class:`ChaosRun` is one real deployment with short settings, the replica in this process, of one of two kinds:

- ``fleet``: ``fundcrawl worker`` / ``beat`` child processes on the battery's own Redis and PostgreSQL;
- ``embedded``: the default a new user runs, one ``fundcrawl run`` process (worker and beat) with the SQLite
  database and the SQLite broker in its data dir; its role is still called ``worker0``.
 A supervisor thread restarts any
worker or beat that dies, as the Procfile supervisor would. The figures (reports expected, stored, lost,
duplicated rows/files/hashes, permanent failures by reason, time to drain) are computed from the database,
the archive and the replica's oracle, printed as one ``CHAOS {json}`` line and collected for the summary.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from crawler.archive import ArchiveError, PageArchive
from tests.e2e.harness import Daemon, schedule_yaml
from tests.replica import Replica

PROFILE = os.environ.get("FUNDCRAWL_CHAOS_PROFILE", "ci")
LONG = PROFILE == "long"

#: Short daemon settings for the battery; every deadline below derives from them.
SETTINGS = {
    "visibility_timeout": 120,
    "task_time_limit": 30,
    "task_soft_time_limit": 25,
    "retry_backoff_max": 20,
    "lease_seconds": 45,
    "reconcile_every": 5,
    "connect_timeout": 3,
    "read_timeout": 4,
    "request_deadline": 20,
    "breaker_threshold": 1000,
}

#: ``fleet`` = PostgreSQL + Redis, worker and beat processes; ``embedded`` = the SQLite default, ``fundcrawl run``.
DEPLOYMENTS = ("fleet", "embedded")

LOG_COPIES = Path(os.environ.get("FUNDCRAWL_CHAOS_LOGS", "/tmp/fundcrawl-chaos-logs"))

#: The figure lines this process recorded; tests/chaos/conftest.py attaches each to its test's report, so they
#: reach the terminal summary also from a pytest-xdist worker.
FIGURES: list[dict[str, Any]] = []


def drain_deadline(extra: float = 0.0) -> float:
    """Seconds after the last fault by which every report must be terminal.

    A message lost with a killed worker main waits out the visibility timeout plus kombu's restore cadence
    (~100 s), and the reconciler republishes a row once its lease ran out; add two reconciler periods and the
    longest retry countdown: D = visibility timeout + 100 + 2 x reconcile period + longest backoff.
    """
    s = SETTINGS
    return s["visibility_timeout"] + 100 + 2 * s["reconcile_every"] + s["retry_backoff_max"] + extra


def lease_recovery() -> float:
    """How long a report whose worker vanished mid-task waits before the reconciler republishes it."""
    s = SETTINGS
    return s["lease_seconds"] + 2 * s["reconcile_every"] + s["retry_backoff_max"] + 30


@dataclass
class ChaosRun:
    """One deployment under test plus what the battery does to it."""

    name: str
    tmp: Path
    replica: Replica
    database_url: str = ""
    broker_url: str = ""
    deployment: str = "fleet"
    env_extra: dict[str, str] = field(default_factory=dict)
    schedule: str = field(default_factory=lambda: schedule_yaml(every="3s"))
    restarts: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        env = {f"FUNDCRAWL_{key.upper()}": str(value) for key, value in SETTINGS.items()}
        env.update({"FUNDCRAWL_RATE_LIMIT": "40", "FUNDCRAWL_LOG_LEVEL": "INFO"})
        env.update(self.env_extra)
        if self.deployment not in DEPLOYMENTS:
            raise ValueError(f"deployment must be one of {DEPLOYMENTS}, not {self.deployment!r}")
        if self.embedded:
            # Nothing set: the daemon falls back to its defaults in the data dir, as for a new user.
            self.database_url, self.broker_url = "", ""
        self.daemon = Daemon(self.tmp, self.replica.url, self.database_url, self.broker_url or None,
                             schedule=self.schedule, env_extra=env)
        self.roles: dict[str, tuple[tuple[str, ...], subprocess.Popen[bytes]]] = {}
        if self.embedded:
            self.daemon.data_dir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{self.daemon.data_dir / 'fundcrawl.sqlite'}"
            self._engine = create_engine(url, connect_args={"timeout": 30})
        else:
            self._engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg2://"),
                                         pool_pre_ping=True, connect_args={"connect_timeout": 3})
        self._stop = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self.started = time.monotonic()
        self.samples: list[dict[str, Any]] = []

    @property
    def embedded(self) -> bool:
        return self.deployment == "embedded"

    @property
    def label(self) -> str:
        """The scenario and its deployment, as the logs directory and the ``CHAOS`` line name them."""
        return f"{self.name}[{self.deployment}]"

    # --- processes ---------------------------------------------------------------------------------------

    def start(self, *, workers: int = 1, concurrency: int = 2, beats: int = 1) -> None:
        """Migrate, then start workers and beats under the supervisor.

        Embedded: one ``fundcrawl run`` (worker and beat in one daemon, as a user starts it) as ``worker0``;
        ``workers`` and ``beats`` do not apply (the data dir has one daemon).
        """
        self.daemon.command("db", "upgrade")
        if self.embedded:
            self.spawn("worker0", "run", "-c", str(concurrency), "--loglevel", "INFO")
            self.started = time.monotonic()
            self._supervisor.start()
            return
        for number in range(workers):
            self.spawn(f"worker{number}", "worker", "-c", str(concurrency), "--loglevel", "INFO")
        for number in range(beats):
            schedule_file = str(self.daemon.data_dir / f"beat{number}-schedule")
            self.spawn(f"beat{number}", "beat", "--loglevel", "INFO", "-s", schedule_file)
        self.started = time.monotonic()
        self._supervisor.start()

    def spawn(self, role: str, *args: str) -> subprocess.Popen[bytes]:
        process = self.daemon.start(role, *args)
        self.roles[role] = (args, process)
        return process

    def _supervise(self) -> None:
        """Restart any worker or beat that exited, within about a second (what the Procfile supervisor does)."""
        while not self._stop.wait(0.5):
            for role, (args, process) in list(self.roles.items()):
                if process.poll() is not None and not self._stop.is_set():
                    self.restarts[role] += 1
                    self.spawn(role, *args)

    def pid(self, role: str) -> int:
        return self.roles[role][1].pid

    def children(self, role: str = "worker0") -> list[psutil.Process]:
        """The pool children of a worker. Embedded, ``fundcrawl run`` supervises a worker and a beat process:
        the pool children are the worker's."""
        try:
            main = psutil.Process(self.pid(role))
            if not self.embedded:
                return main.children()
            return [child for process in main.children() if "worker" in process.cmdline()
                    for child in process.children()]
        except psutil.NoSuchProcess:
            return []

    def kill_child(self, role: str = "worker0") -> bool:
        """SIGKILL one pool child (the busiest by CPU time, so most likely mid-task).

        Only children that have been up a few seconds: a child killed while the pool is still starting makes
        Celery exit with "Could not start worker processes" (the supervisor restarts it, but that is another
        failure than the one this injects).
        """
        children = self._wait_for_settled_children(role)
        if not children:
            return False
        victim = max(children, key=lambda child: _cpu(child))
        os.kill(victim.pid, signal.SIGKILL)
        self.kills["child"] += 1
        return True

    def kill_children(self, role: str = "worker0", at_least: int = 1) -> int:
        """SIGKILL every worker process of ``role`` that has been up a few seconds, busy or idle, once at least
        ``at_least`` of them are (a pool that was just killed is still forking); how many."""
        victims = self._wait_for_settled_children(role, at_least)
        for victim in victims:
            try:
                os.kill(victim.pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills["child"] += 1
        return len(victims)

    def _wait_for_settled_children(self, role: str, at_least: int = 1,
                                   timeout: float = 30) -> list[psutil.Process]:
        """The settled children, waiting up to ``timeout`` while a restarted worker is still forking its pool."""
        deadline = time.monotonic() + timeout
        children = self._settled_children(role)
        while len(children) < at_least and time.monotonic() < deadline:
            time.sleep(0.2)
            children = self._settled_children(role)
        return children

    def _settled_children(self, role: str, age: float = 4.0) -> list[psutil.Process]:
        settled = []
        for child in self.children(role):
            try:
                if "beat" in child.cmdline():  # the embedded daemon's beat: not a worker process
                    continue
                if time.time() - child.create_time() >= age:
                    settled.append(child)
            except psutil.Error:
                continue
        return settled

    def kill_main(self, role: str = "worker0") -> None:
        """SIGKILL a worker's (or beat's) main process; a worker's orphaned children finish or die on their own.

        Embedded, ``worker0`` is the whole daemon (``fundcrawl run``); there is no separate beat role.
        """
        if role not in self.roles:
            raise KeyError(f"{self.label} has no {role!r} process (roles: {sorted(self.roles)})")
        os.kill(self.pid(role), signal.SIGKILL)
        self.kills["beat" if role.startswith("beat") else "main"] += 1

    def wait_restarted(self, role: str, old_pid: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid(role) == old_pid:
            time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()
        if self._supervisor.is_alive():
            self._supervisor.join(5)
        self.daemon.stop_all(timeout=10)
        self._engine.dispose()
        keep = LOG_COPIES / self.label  # pytest rotates its tmp dirs; keep the last logs of each scenario
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(self.daemon.log_dir, keep)

    # --- the database, read from outside -----------------------------------------------------------------

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self._engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def rows(self) -> dict[int, dict[str, Any]]:
        result = self.query("SELECT upload_info_id, state, failure_reason, page_sha256, attempts, last_error, "
                            "stored_at FROM reports")
        return {int(row[0]): dict(row._mapping) for row in result}

    def counts(self) -> dict[str, int]:
        return {state: int(n) for state, n in self.query("SELECT state, count(*) FROM reports GROUP BY state")}

    def wait(self, what: str, condition: Any, timeout: float, poll: float = 1.0) -> float:
        """Poll ``condition`` (database errors count as "not yet"); seconds it took, AssertionError on timeout."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if condition():
                    return time.monotonic() - started
            except SQLAlchemyError:
                pass
            time.sleep(poll)
        raise AssertionError(f"{self.label}: timed out after {timeout:.0f}s waiting for {what}; "
                             f"counts {self._safe_counts()}\n{self.daemon.logs()[-8000:]}")

    def _safe_counts(self) -> dict[str, int] | str:
        try:
            return self.counts()
        except SQLAlchemyError as error:
            return f"unreadable: {type(error).__name__}"

    def wait_terminal(self, oracle: dict[int, dict[str, Any]], timeout: float) -> float:
        """Wait until every report the oracle expects a row for is stored or failed."""
        wanted = {i for i, entry in oracle.items() if entry["state"] != "absent"}

        def done() -> bool:
            rows = self.rows()
            return all(i in rows and rows[i]["state"] in ("stored", "failed") for i in wanted)

        return self.wait(f"{len(wanted)} reports terminal", done, timeout, poll=2.0)

    def stored_since(self, moment: float) -> int:
        """Reports stored after ``moment`` (a time.time() value)."""
        rows = self.query("SELECT stored_at FROM reports WHERE state = 'stored'")
        return sum(1 for (stored_at,) in rows if stored_at is not None and _epoch(stored_at) > moment)

    # --- figures -----------------------------------------------------------------------------------------

    def figures(self, oracle: dict[int, dict[str, Any]], drain_seconds: float, **extra: Any) -> dict[str, Any]:
        """What happened to every report, compared with the oracle; printed as one ``CHAOS`` JSON line."""
        rows = self.rows()
        wrong, lost, sha_mismatch = [], [], []
        for upload_info_id, entry in oracle.items():
            row = rows.get(upload_info_id)
            if not accepted(entry, row):
                wrong.append(upload_info_id)
                if entry["state"] == "stored" and (row is None or row["state"] != "stored"):
                    lost.append(upload_info_id)
                elif row is not None and row["state"] == "stored":
                    sha_mismatch.append(upload_info_id)
        figures = {
            "scenario": self.name,
            "deployment": self.deployment,
            "profile": PROFILE,
            "expected": len(oracle),
            "stored": sum(1 for row in rows.values() if row["state"] == "stored"),
            "failed": dict(Counter(row["failure_reason"] for row in rows.values() if row["state"] == "failed")),
            "lost": len(lost),
            "duplicated": self.duplicates(rows),
            "sha_mismatch": len(sha_mismatch),
            "wrong_outcome": sorted(wrong)[:20],
            "max_attempts": max((row["attempts"] for row in rows.values()), default=0),
            "drain_seconds": round(drain_seconds, 1),
            "temp_debris": self.temp_debris(),
            "kills": dict(self.kills),
            "restarts": dict(self.restarts),
            **extra,
        }
        record(figures)
        return figures

    def duplicates(self, rows: dict[int, dict[str, Any]]) -> dict[str, int]:
        """Duplicate rows (per natural key), archived pages no report or version points at, stored rows sharing a
        sha, and stored rows whose page does not read back from the archive with its own sha256 (``unreadable``).
        """
        dup_rows = sum(int(n) for (n,) in self.query(
            "SELECT count(*) - count(DISTINCT upload_info_id) FROM reports UNION ALL "
            "SELECT count(*) - count(DISTINCT upload_info_id) FROM report_documents"))
        # A page an in-place correction replaced is still a version of its report: referenced, not debris.
        referenced = {row["page_sha256"] for row in rows.values() if row["page_sha256"]}
        referenced |= {sha for (sha,) in self.query("SELECT page_sha256 FROM report_versions")}
        pages = [sha for (sha,) in self.query("SELECT sha256 FROM pages")]
        shas = Counter(row["page_sha256"] for row in rows.values() if row["state"] == "stored")
        return {"rows": dup_rows, "files": sum(1 for sha in pages if sha not in referenced),
                "hashes": sum(n - 1 for n in shas.values() if n > 1), "unreadable": self.unreadable_pages(shas)}

    def unreadable_pages(self, hashes: Iterable[str]) -> int:
        """Pages that do not come back from the fleet's archive as bytes with their own sha256."""
        archive = PageArchive(self.daemon.store())  # the embedded default has no URL: its SQLite file
        unreadable = 0
        for sha256 in hashes:
            try:
                archive.read(sha256)
            except ArchiveError:
                unreadable += 1
        return unreadable

    @property
    def archive(self) -> Path:
        return self.daemon.data_dir / "archive"

    def temp_debris(self) -> int:
        """Temp files in the data dir's archive folder (pages live in the database: there should be none)."""
        return len(list(self.archive.glob("??/??/.tmp-*")))


class Sampler:
    """Samples the worker processes' memory and open files (psutil) in a background thread."""

    def __init__(self, run: ChaosRun, role: str = "worker0", every: float = 0.2) -> None:
        self.run, self.role, self.every = run, role, every
        self.peak_child_rss = 0
        self.peak_main_rss = 0
        self.child_pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                main = psutil.Process(self.run.pid(self.role))
                self.peak_main_rss = max(self.peak_main_rss, main.memory_info().rss)
                for child in self.run.children(self.role):
                    self.child_pids.add(child.pid)
                    self.peak_child_rss = max(self.peak_child_rss, child.memory_info().rss)
            except (psutil.Error, KeyError):
                continue


def accepted(entry: dict[str, Any], row: dict[str, Any] | None) -> bool:
    """Does ``row`` end in an outcome the oracle accepts (right state, reason and content hash)?"""
    outcomes = [{"state": entry["state"], "reason": entry["reason"]}, *entry.get("also_accepted", [])]
    shas = {entry.get("sha256"), *entry.get("sha256_alternatives", [])} - {None}
    for outcome in outcomes:
        if outcome["state"] == "absent" and row is None:
            return True
        if row is None or row["state"] != outcome["state"]:
            continue
        if outcome["state"] == "stored" and row["page_sha256"] in shas:
            return True
        if outcome["state"] == "failed" and row["failure_reason"] == outcome["reason"]:
            return True
    return False


def record(figures: dict[str, Any]) -> None:
    line = "CHAOS " + json.dumps(figures, sort_keys=False, default=str)
    FIGURES.append(figures)
    print(line, flush=True)
    path = os.environ.get("FUNDCRAWL_CHAOS_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def assert_clean(figures: dict[str, Any]) -> None:
    """The zeros every scenario must show."""
    assert figures["lost"] == 0, figures
    assert figures["duplicated"] == {"rows": 0, "files": 0, "hashes": 0, "unreadable": 0}, figures
    assert figures["sha_mismatch"] == 0, figures
    assert figures["wrong_outcome"] == [], figures


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
        return float(times.user + times.system)
    except psutil.Error:
        return -1.0


def _epoch(value: Any) -> float:
    if isinstance(value, str):  # SQLite hands a raw text() query the stored ISO text
        value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    return float(value.timestamp())
