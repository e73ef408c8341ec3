"""One-shot crawl on the embedded default against parsing the same pages in one process.

``fundcrawl run --once -c 2`` (SQLite database and broker in a fresh data dir, discovery included) over the real
corpus served several times by a replica child process (39 pages x ``--copies``, each copy's bytes unique),
timed from the command's start to its exit (``run_once_cpu_seconds``: the CPU of the command and every process it
started), with a timeline (``timeline_seconds``: when its worker and consumer
processes appeared, when the first and the last report was stored, when it exited). Then the pages it stored are
read back from the page store and parsed in this one process, one after another (``parse_report``, as the task
does), ``--parse-passes`` times: the reference is the median pass (on a shared machine one pass moved by a third
between runs, more than the crawl did). Prints one JSON object; the target is ``ratio`` <= 2.

    .venv/bin/python bench/once.py [--copies 8] [--concurrency 2] [--parse-passes 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from common import MAX_RATE, REPO, corpus_copies, machine, remove, spawn_replica
from sqlalchemy import func, select

from crawler.archive import PageArchive
from crawler.parsing import PARSER_VERSION, parse_report
from crawler.storage.tables import reports
from crawler.tasks import app  # noqa: F401  (the same imports a worker has: parse timing without first-use costs)
from tests.e2e.harness import Daemon


def parse_in_one_process(daemon: Daemon, passes: int) -> tuple[int, list[float]]:
    """Read every stored report's page back through the page store (untimed), then time parsing them all,
    ``passes`` times (the seconds of each pass)."""
    store = daemon.store()
    archive = PageArchive(store)
    pages = [archive.read(sha256, report) for report, sha256 in store.stored_for_reparse(PARSER_VERSION, True)]
    parse_report(pages[0])  # warm caches once, as a worker's first task does
    seconds = []
    for _ in range(passes):
        started = time.perf_counter()
        for body in pages:
            parse_report(body)
        seconds.append(time.perf_counter() - started)
    return len(pages), seconds


def watch_spawns(spawned: dict[str, float], done: threading.Event, consumers: int) -> None:
    """Seconds from the command's start until its worker and each consumer process first appear: the worker is
    the command's child (forked, it shows the command's command line), the consumers are the worker's children.

    It stops looking once ``consumers`` have appeared: each look reads every process of the machine (about 3 ms),
    and fifty a second took a tenth of a core from the crawl being timed.
    """
    started = time.perf_counter()
    while not done.is_set() and sum(key.startswith("consumer") for key in spawned) < consumers:
        for command in psutil.Process().children():
            try:
                if "run" not in command.cmdline():  # the replica
                    continue
                for worker in command.children():
                    spawned.setdefault(f"worker_{worker.pid}", round(time.perf_counter() - started, 2))
                    for consumer in worker.children():
                        spawned.setdefault(f"consumer_{consumer.pid}", round(time.perf_counter() - started, 2))
            except psutil.Error:
                continue
        time.sleep(0.02)


def timeline(daemon: Daemon, started_at: dt.datetime, spawned: dict[str, float], exit_seconds: float
             ) -> dict[str, float]:
    """When, from the command's start: its worker and consumers appeared, the first and last report was stored,
    it exited."""
    store = daemon.store()
    stored_at = reports.c.stored_at  # min and max keep the column's type: aware UTC datetimes on both engines
    first, last = store.read(lambda c: c.execute(select(func.min(stored_at), func.max(stored_at))).one())
    points = {"worker_spawned": min((v for k, v in spawned.items() if k.startswith("worker")), default=-1.0),
              "consumers_spawned": max((v for k, v in spawned.items() if k.startswith("consumer")), default=-1.0)}
    for name, moment in (("first_report_stored", first), ("last_report_stored", last)):
        points[name] = round((moment - started_at).total_seconds(), 2) if moment is not None else -1.0
    points["exited"] = round(exit_seconds, 2)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of the 39-page corpus (8 = 312 reports)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--parse-passes", type=int, default=3,
                        help="times the pages are parsed for the reference (its median is used)")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="fundcrawl-bench-once-"))
    replica = None
    try:
        replica = spawn_replica("--corpus", str(corpus_copies(folder / "corpus", options.copies)))
        partitions = {(e["report_type_code"], e["report_year"]) for e in replica.catalogue()}
        types = sorted({code for code, _ in partitions})
        years = sorted({year for _, year in partitions})
        schedule = ("schedules:\n  all:\n    every: 1h\n    discover:\n"
                    f"      report_types: [{', '.join(types)}]\n      years: [{', '.join(years)}]\n")
        daemon = Daemon(folder, replica.url, "", schedule=schedule,
                        env_extra={"FUNDCRAWL_RATE_LIMIT": MAX_RATE, "FUNDCRAWL_LOG_LEVEL": "WARNING"})
        daemon.command("db", "upgrade")
        spawned: dict[str, float] = {}
        done = threading.Event()
        watcher = threading.Thread(target=watch_spawns, args=(spawned, done, options.concurrency), daemon=True)
        started, started_at = time.perf_counter(), dt.datetime.now(dt.UTC)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        watcher.start()
        result = daemon.command("run", "--once", "-c", str(options.concurrency), timeout=1800, check=False)
        once_seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_seconds = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        done.set()
        watcher.join()
        if result.returncode != 0:
            raise SystemExit(f"run --once exited {result.returncode}:\n{result.stderr[-3000:]}")
        pages, passes = parse_in_one_process(daemon, options.parse_passes)
        parse_seconds = statistics.median(passes)
        figures: dict[str, Any] = {
            "bench": "once", "reports": len(replica.catalogue()), "pages_archived": pages,
            "concurrency": options.concurrency, "run_once_seconds": round(once_seconds, 2),
            "parse_one_process_seconds": round(parse_seconds, 2),
            "parse_passes_seconds": [round(value, 2) for value in passes],
            "ratio": round(once_seconds / parse_seconds, 2), "target_ratio": 2.0,
            "run_once_cpu_seconds": round(cpu_seconds, 2),
            "timeline_seconds": timeline(daemon, started_at, spawned, once_seconds),
            "summary": result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "",
            "machine": machine(),
        }
        print(json.dumps(figures))
    finally:
        if replica is not None:
            replica.close()
        remove(folder)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
