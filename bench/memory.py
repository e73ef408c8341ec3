"""Worker memory over a steady-rate run: RSS of the main process and of each pool child.

    .venv/bin/python bench/memory.py [--minutes 10] [--rate 1.0] [--max-tasks-per-child 50] [--quick]

The embedded default deployment (SQLite + SQLite broker) runs one ``fundcrawl worker -c 2`` against the replica
(a child process) serving copies of the 39 real corpus pages (the real size mix, up to ~1 MB a page, each copy
unique). Report rows are inserted as discovery would, and this process publishes ``--rate`` report tasks per
second for ``--minutes``. Pool children are recycled every ``--max-tasks-per-child`` tasks
(``FUNDCRAWL_WORKER_MAX_TASKS_PER_CHILD``), so a leak in a child would show as growth between recycles and a
leak in the main process as growth over the run. psutil samples RSS every ``--every`` seconds; the JSON gives
start (first sample with work done), end and max, in MiB, for the main process, the largest child and the
worker in total, plus how many distinct children served the run. ``--quick``: 1 minute at 2 reports/second.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from common import EMBEDDED, MAX_RATE, corpus_copies, machine, refs_of, spawn_replica

from crawler.storage import Store, dispose_engines
from tests.e2e.harness import Daemon

MIB = 1024 * 1024


def sample(worker: psutil.Process) -> dict[str, Any]:
    children = worker.children(recursive=True)
    sizes = {}
    for child in children:
        try:
            sizes[child.pid] = child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return {"t": time.monotonic(), "main": worker.memory_info().rss, "children": sizes}


def publisher(daemon: Daemon) -> Any:
    """``publish_reports`` of this process, configured for the deployment (set before the app reads config)."""
    os.environ.update({k: v for k, v in daemon.env.items() if k.startswith("FUNDCRAWL_")})
    from crawler.tasks import publish_reports

    return publish_reports


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    total = math.ceil(args.minutes * 60 * args.rate)
    corpus = corpus_copies(folder / "corpus", math.ceil(total / 39))
    replica = spawn_replica("--corpus", str(corpus))
    try:
        refs = refs_of(replica.catalogue())[:total]
        with EMBEDDED.urls(folder) as (database_url, broker_url):
            daemon = Daemon(folder, replica.url, database_url, broker_url, env_extra={
                "FUNDCRAWL_RATE_LIMIT": MAX_RATE, "FUNDCRAWL_LOG_LEVEL": "WARNING",
                "FUNDCRAWL_WORKER_MAX_TASKS_PER_CHILD": str(args.max_tasks_per_child)})
            ids = Store.from_url(database_url).add_discovered(refs)
            try:
                samples = steady(daemon, ids, args)
            finally:
                daemon.stop_all()
            counts = Store.from_url(database_url).counts()
            dispose_engines()
    finally:
        replica.close()
    return summarise(samples, counts, args)


def steady(daemon: Daemon, ids: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Publish at the rate, sampling RSS meanwhile; then wait for the queue to drain (sampling too)."""
    worker = psutil.Process(daemon.start("worker", "worker", "-c", "2", "--loglevel", "WARNING").pid)
    publish = publisher(daemon)
    store = Store.from_url(daemon.database_url)
    samples, started, sent, next_sample = [], time.monotonic(), 0, 0.0
    while True:
        now = time.monotonic() - started
        due = min(len(ids), int(now * args.rate) + 1)
        if due > sent:
            publish(ids[sent:due])
            sent = due
        if now >= next_sample:
            samples.append({**sample(worker), "done": sum(store.counts()[k] for k in ("stored", "failed"))})
            next_sample += args.every
            if sent == len(ids) and samples[-1]["done"] == len(ids):
                return samples
        if worker.status() == psutil.STATUS_ZOMBIE or now > args.minutes * 60 + 600:
            raise RuntimeError(f"worker gone or run too slow\n{daemon.logs()}")
        time.sleep(0.05)


def summarise(samples: list[dict[str, Any]], counts: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    working = [s for s in samples if s["done"] > 0] or samples

    def figures(values: list[float]) -> dict[str, float]:
        return {"start": round(values[0] / MIB, 1), "end": round(values[-1] / MIB, 1),
                "max": round(max(values) / MIB, 1)}

    children = [max(s["children"].values(), default=0) for s in working]
    totals = [s["main"] + sum(s["children"].values()) for s in working]
    return {
        "deployment": "embedded (SQLite + SQLite broker), fundcrawl worker -c 2",
        "minutes": round((samples[-1]["t"] - samples[0]["t"]) / 60, 1), "rate_per_second": args.rate,
        "reports": counts, "max_tasks_per_child": args.max_tasks_per_child,
        "distinct_children": len({pid for s in samples for pid in s["children"]}),
        "samples": len(samples), "rss_mib": {"main": figures([s["main"] for s in working]),
                                             "largest_child": figures(children), "worker_total": figures(totals)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1.0, help="reports published per second")
    parser.add_argument("--max-tasks-per-child", type=int, default=50)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--quick", action="store_true", help="1 minute at 2 reports/second")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.rate, args.every = 1.0, 2.0, 2.0
    with tempfile.TemporaryDirectory(prefix="fundcrawl-bench-memory-") as tmp:
        report = run(args, Path(tmp))
    print(json.dumps({"machine": machine(), **report}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
