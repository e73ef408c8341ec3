"""What the pipeline, scale, memory and discovery benches share: the machine, the page set, the deployments, cleanup.

Every bench starts the site replica as a child process (so it does not compete for this process's GIL), runs
real ``fundcrawl worker`` processes through the end-to-end ``Daemon`` harness, and removes what it created:
processes, temporary folders, its uniquely named PostgreSQL databases and its own Redis database (FLUSHDB of
that one database number only).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil

from crawler.allocator import turn_off_fastbins
from crawler.discovery import DiscoveryPlan, DiscoveryResult, discover
from crawler.models import ReportRef
from crawler.sources.eid import EidClient
from crawler.storage import PartitionKey, Store, upgrade
from tests.constants import CORPUS_DIR as CORPUS
from tests.e2e.harness import Daemon, redis_broker
from tests.replica import Replica
from tests.storage.fixtures import temporary_database

# The parse-only references these benches measure in their own process run with the allocator setting every
# fundcrawl process runs with (crawler/allocator.py), so they are the parse rate as the daemon parses.
turn_off_fastbins()

REDIS_DB = 13
#: The settings' ceiling: 1000 requests/second for the whole fleet (one report is two requests: 302 + page): no limit in effect.
MAX_RATE = "1000"
#: The partition the discovery benches list, and the last day of the replica's Q1-2025 disclosure window.
Q1 = PartitionKey("FB030010", "2025")
TODAY = dt.date(2025, 4, 22)
AGENT = "fundcrawl-bench/1 (+https://example.org/fundcrawl)"


def machine() -> dict[str, Any]:
    """What the figures ran on; the load average says how busy the (shared) machine was meanwhile."""
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        total_kb = int(handle.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gb": round(total_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "loadavg_1m": round(os.getloadavg()[0], 2),
            "cpu_pressure_some_avg60": _cpu_pressure()}


def _cpu_pressure() -> float | None:
    """Share of the last minute in which some runnable task waited for a CPU (Linux PSI), in percent."""
    try:
        with open("/proc/pressure/cpu", encoding="utf-8") as handle:
            fields = dict(part.split("=") for part in handle.readline().split()[1:])
    except OSError:
        return None
    return float(fields["avg60"])


def corpus_copies(folder: Path, copies: int, corpus: Path = CORPUS) -> Path:
    """``copies`` x the real corpus in ``folder`` (a temp dir, deleted by the caller), each copy's bytes unique.

    Copy k of a page gets a trailing HTML comment, so every report has its own sha256 and is archived like a
    new page (the parser drops comments). The catalogue ids come from the file names, so they differ too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (corpus / "MANIFEST.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out: list[dict[str, str]] = []
    for copy in range(copies):
        for row in rows:
            name = f"c{copy}_{row['file']}"
            body = (corpus / row["file"]).read_bytes() + f"\n<!-- fundcrawl bench copy {copy} -->\n".encode()
            (folder / name).write_bytes(body)
            out.append({**row, "file": name})
    with (folder / "MANIFEST.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(out)
    return folder


def refs_of(catalogue: list[dict[str, Any]]) -> list[ReportRef]:
    """The replica's catalogue entries as the listing rows discovery would have stored."""
    return [ReportRef(upload_info_id=entry["upload_info_id"], report_type_code=entry["report_type_code"],
                      fund_code=entry["fund_code"], fund_short_name=entry["fund_short_name"],
                      organ_name=entry["organ_name"], report_year=entry["report_year"],
                      report_desp=entry["report_desp"], send_date=dt.date.fromisoformat(entry["send_date"]),
                      upload_date=dt.date.fromisoformat(entry["upload_date"]), fund_id=entry["fund_id"])
            for entry in catalogue]


@dataclass(frozen=True)
class Setup:
    """A deployment shape: the embedded default (SQLite + SQLite broker) or production (PostgreSQL + Redis)."""

    name: str
    engine: str
    broker: str | None

    @contextmanager
    def urls(self, folder: Path) -> Iterator[tuple[str, str | None]]:
        """(database URL, broker URL or None), created empty and removed afterwards."""
        if self.engine == "sqlite":
            database = nullcontext(f"sqlite:///{folder / 'data' / 'fundcrawl.sqlite'}")
        else:
            database = temporary_database(f"fundcrawl_bench_{self.name}")
        with database as database_url, (redis_broker(REDIS_DB) if self.broker else nullcontext()) as broker_url:
            upgrade(database_url)
            yield database_url, broker_url


EMBEDDED = Setup("embedded", "sqlite", None)
PRODUCTION = Setup("redis_postgresql", "postgresql", "redis")


def publish(daemon: Daemon, ids: list[int]) -> None:
    """Send one report task per id to the deployment's broker, from a process with the deployment's settings."""
    code = "import sys; from crawler.tasks import publish_reports; publish_reports([int(a) for a in sys.argv[1:]])"
    subprocess.run([sys.executable, "-c", code, *map(str, ids)], env=daemon.env, cwd=REPO, check=True,
                   capture_output=True, timeout=300)


def start_phase_worker(daemon: Daemon, out: Path, *args: str) -> subprocess.Popen[bytes]:
    """``fundcrawl worker ARGS`` through ``bench/phase_worker.py`` (per-task phase timings into ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    log = (daemon.log_dir / "worker.log").open("ab")
    process = subprocess.Popen([sys.executable, str(REPO / "bench" / "phase_worker.py"), str(out), "worker", *args],
                               env=daemon.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    daemon.processes.append(process)
    return process


def read_phase_lines(out: Path) -> list[dict[str, float]]:
    lines = []
    for path in sorted(out.glob("*.jsonl")):
        lines += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return lines


def wait_done(daemon: Daemon, total: int, timeout: float = 900, poll: float = 0.2) -> float:
    """Poll until ``total`` reports are terminal (stored or failed); returns the monotonic time it saw it."""
    store = Store.from_url(daemon.database_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = store.counts()
        if counts["stored"] + counts["failed"] >= total:
            return time.monotonic()
        for process in daemon.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited ({process.returncode})\n{daemon.logs()}")
        time.sleep(poll)
    raise RuntimeError(f"timed out: {store.counts()} of {total}\n{daemon.logs()}")


def spawn_replica(*args: str) -> Replica:
    """``python -m tests.replica ARGS`` as a child process, its stderr (client resets) dropped."""
    return Replica.spawn(*args, quiet=True)


def timed_incremental_discovery(store: Store) -> tuple[DiscoveryResult, float]:
    """(result, seconds) of one incremental discovery that finds 100 new reports among 600 listed in its window.

    The replica (a child process) lists 500 Q1-2025 reports, a first discovery stores them, 100 more are published
    on the last day of the window, and the timed discovery (``sent_within_days=7``) finds them. The discovery and
    scale benches run it on top of a stored history to show that it does not grow with that history.
    """
    site = spawn_replica("--generate", "500", "--seed", "3")
    plan = DiscoveryPlan((Q1,), sent_within_days=7)
    try:
        with EidClient(site.url, AGENT) as client:
            discover(client, store, plan, TODAY)
            site.publish(100, Q1.report_type_code, Q1.report_year, send_from=TODAY.isoformat())
            started = time.perf_counter()
            result = discover(client, store, plan, TODAY)
            seconds = time.perf_counter() - started
    finally:
        site.close()
    return result, seconds


def tree_cpu_seconds(processes: list[Any]) -> float:
    """User + system CPU seconds of these processes (Popen or psutil handles) and their live children so far."""
    total = 0.0
    for process in processes:
        try:
            root = psutil.Process(process.pid)
            for member in [root, *root.children(recursive=True)]:
                times = member.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def service_processes(name: str) -> list[psutil.Process]:
    """The root server processes named ``name*`` (the postmaster, redis-server): CPU is read over their trees,
    so PostgreSQL's backends count, including ones the workers open during the run."""
    def named(process: psutil.Process | None) -> bool:
        try:
            return process is not None and process.name().startswith(name)
        except psutil.Error:  # gone meanwhile, or not ours to read
            return False

    return [process for process in psutil.process_iter() if named(process) and not named(process.parent())]


def cpu_by_group(groups: dict[str, list[Any]]) -> dict[str, float]:
    """User + system CPU seconds so far of each group of processes (with their children)."""
    return {name: tree_cpu_seconds(members) for name, members in groups.items()}


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
