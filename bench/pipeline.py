"""Reports per second through the whole pipeline, against the single-core parse throughput.

    .venv/bin/python bench/pipeline.py [--quick] [--copies 3] [--skip-parse-bench]

Pages: ``--copies`` x the 39 real corpus pages (the real size mix: quarterly ~110 KB to REIT annual ~1 MB),
each copy made unique by a trailing comment so every report is downloaded, archived and stored as a new page.
The replica runs as a child process with no artificial delay; ``FUNDCRAWL_RATE_LIMIT`` is at its ceiling (1000
requests/second, 2 per report, far above what the workers reach).

For each deployment (embedded: SQLite + SQLite broker; production: PostgreSQL + Redis broker) and 1 and 2
worker processes (``fundcrawl worker -c N``): the report rows are inserted as discovery would, a warm-up of
2N reports primes the pool children, then the rest are published at once and timed until the last is stored.
``reports_per_second`` is timed reports / (last stored - publish start).

The target: at 2 processes, >= 70% of 2 x the single-core parse throughput. Both the corpus-mix
parse rate of ``bench/parse.py`` (run in the same invocation) and this page set's own parse rate (each page
parsed once in this process) are printed. Then ``profile``: ``processing.process_report`` phase by phase in one
process with a worker's collaborators (see ``bench/phases.py``), the per-task Celery overhead (worker wall
time per report at 1 process minus the in-process time), and cProfile's top functions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from common import (
    EMBEDDED,
    MAX_RATE,
    PRODUCTION,
    REDIS_DB,
    REPO,
    Setup,
    corpus_copies,
    cpu_by_group,
    machine,
    publish,
    read_phase_lines,
    refs_of,
    service_processes,
    spawn_replica,
    start_phase_worker,
    wait_done,
)
from phases import cprofile_top, phase_profile, settings_for

from crawler.models import ReportRef
from crawler.parsing import parse_report
from crawler.storage import Store, dispose_engines
from tests.e2e.harness import REDIS_URL, Daemon, redis_broker
from tests.replica import Replica


def run_deployment(setup: Setup, processes: int, replica: Replica, refs: list[ReportRef], folder: Path,
                   worker_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """Store every ref through real worker processes; time all but the warm-up."""
    folder.mkdir(parents=True)
    with setup.urls(folder) as (database_url, broker_url):
        daemon = Daemon(folder, replica.url, database_url, broker_url, env_extra={
            "FUNDCRAWL_RATE_LIMIT": MAX_RATE, "FUNDCRAWL_LOG_LEVEL": "WARNING"})
        ids = Store.from_url(database_url).add_discovered(refs)
        warm, timed = ids[: 2 * processes], ids[2 * processes:]
        try:
            main = start_phase_worker(daemon, folder / "phases", "-c", str(processes), "--loglevel", "WARNING",
                                      *worker_args)
            publish(daemon, warm)
            wait_done(daemon, len(warm))
            groups = {"worker": daemon.processes, "site_replica": [replica.process] if replica.process else [],
                      "postgresql": service_processes("postgres"), "redis": service_processes("redis-server")}
            before, main_before, idle_before = cpu_by_group(groups), own_cpu_seconds(main), psutil.cpu_times().idle
            started, published_at = time.monotonic(), time.time()
            publish(daemon, timed)
            finished = wait_done(daemon, len(ids))
            cpu = {name: value - before[name] for name, value in cpu_by_group(groups).items()}
            main_cpu, idle = own_cpu_seconds(main) - main_before, psutil.cpu_times().idle - idle_before
        finally:
            daemon.stop_all()
        counts = Store.from_url(database_url).counts()
        dispose_engines()
    seconds = finished - started
    lines = [line for line in read_phase_lines(folder / "phases") if line["started_at"] >= published_at]
    # Steady state: from the first timed task's start to the last one's end, so neither the publishing process's
    # start-up (~1 s of importing Celery) nor the completion poll counts against the workers.
    steady = max(line["ended_at"] for line in lines) - min(line["started_at"] for line in lines)
    per_report = {name: round(value / len(timed) * 1000, 1) for name, value in cpu.items()}
    machine_ms = sum(per_report.values())
    cores = psutil.cpu_count() or 1
    return {"deployment": setup.name, "processes": processes, "reports": len(timed),
            "reports_per_second": round(len(lines) / steady, 2),
            "reports_per_second_from_publish": round(len(timed) / seconds, 2),
            "stored": counts["stored"], "failed": counts["failed"],
            "cpu_ms_per_report": {**per_report, "worker_main_process": round(main_cpu / len(timed) * 1000, 1),
                                  "all_of_these": round(machine_ms, 1)},
            "ceiling_reports_per_second": round(cores / machine_ms * 1000, 1),
            "worker_cores_busy": round(cpu["worker"] / seconds, 2),
            "machine_cores_busy": round(cores - idle / seconds, 2),
            "in_worker": worker_phases(lines, steady, processes)}


def own_cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds of one process without its children (the worker's main process)."""
    try:
        times = psutil.Process(process.pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def worker_phases(lines: list[dict[str, float]], seconds: float, processes: int) -> dict[str, Any]:
    """Mean ms per report of each phase inside the pool children, and how busy the children were."""
    gaps = between_tasks(lines)
    lines = [{k: v for k, v in line.items() if k not in ("started_at", "ended_at", "pid")} for line in lines]
    names = sorted({name for line in lines for name in line}, key=lambda n: -sum(x.get(n, 0) for x in lines))
    means = {name: round(sum(line.get(name, 0.0) for line in lines) / len(lines), 1) for name in names}
    means["download"] = round(means.get("download", 0.0) - means.get("politeness", 0.0), 1)
    busy = sum(line["task"] for line in lines) / 1000 / (seconds * processes)
    return {"tasks": len(lines), "mean_ms": means, "children_busy_in_tasks": round(busy, 2),
            "between_tasks_ms": gaps}


def between_tasks(lines: list[dict[str, float]]) -> dict[str, float]:
    """Median and p90 of the time a pool child waits from the end of one task to the start of its next."""
    by_child: dict[float, list[dict[str, float]]] = {}
    for line in sorted(lines, key=lambda line: line["started_at"]):
        by_child.setdefault(line["pid"], []).append(line)
    gaps = sorted((b["started_at"] - a["ended_at"]) * 1000 for child in by_child.values()
                  for a, b in itertools.pairwise(child))
    if not gaps:
        return {}
    return {"median": round(gaps[len(gaps) // 2], 1), "p90": round(gaps[int(len(gaps) * 0.9)], 1)}


def by_copy(refs: list[ReportRef], copies: int) -> list[list[ReportRef]]:
    """The catalogue split into its corpus copies, each holding every page once (the real size mix).

    The replica's ids do not follow the copies, but the copies of a page share its listing fields.
    """
    pages: dict[tuple[Any, ...], list[ReportRef]] = {}
    for ref in sorted(refs, key=lambda ref: ref.upload_info_id):
        key = (ref.fund_code, ref.report_type_code, ref.report_year, ref.report_desp, ref.send_date)
        pages.setdefault(key, []).append(ref)
    if any(len(group) != copies for group in pages.values()):
        raise RuntimeError("corpus copies could not be told apart by their listing fields")
    return [[group[copy] for group in pages.values()] for copy in range(copies)]


def parse_rate(replica: Replica, refs: list[ReportRef]) -> dict[str, Any]:
    """This page set parsed once each in this process, one core (pages fetched from the replica first)."""
    from crawler.sources.eid import EidClient

    with EidClient(replica.url, "fundcrawl-bench/1") as client:
        bodies = [client.fetch_report(ref.upload_info_id).body for ref in refs]
    started, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        parse_report(body)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"pages": len(bodies), "pages_per_second_one_core": round(len(bodies) / seconds, 2),
            "cpu_ms_per_page": round(cpu / len(bodies) * 1000, 1)}


def parse_bench(repeat: int) -> dict[str, Any]:
    """``bench/parse.py`` (the parser engineer's bench) in a child process, in this run."""
    result = subprocess.run([sys.executable, str(REPO / "bench" / "parse.py"), "--repeat", str(repeat)],
                            cwd=REPO, capture_output=True, text=True, check=True, timeout=1800)
    report = json.loads(result.stdout)
    return {key: report[key] for key in ("parser_version", "pages", "median_ms", "p95_ms",
                                         "pages_per_second_one_core", "ratio_to_floor_total")}


def profile(replica: Replica, refs: list[ReportRef], folder: Path, cprofile_refs: list[ReportRef]
            ) -> dict[str, Any]:
    """Phase timings on both engines (in this process), and cProfile on the embedded one."""
    out: dict[str, Any] = {}
    for setup in (EMBEDDED, PRODUCTION):
        here = folder / f"profile-{setup.name}"
        here.mkdir(parents=True)
        with setup.urls(here) as (database_url, broker_url):
            redis_url = f"{REDIS_URL}/{REDIS_DB}" if broker_url else None
            out[setup.name] = phase_profile(settings_for(replica.url, here, database_url, redis_url), refs)
            dispose_engines()
    here = folder / "cprofile"
    here.mkdir()
    with EMBEDDED.urls(here) as (database_url, _):
        out["cprofile_top_own_time"] = cprofile_top(settings_for(replica.url, here, database_url, None),
                                                    cprofile_refs)
        dispose_engines()
    return out


def verdict(runs: list[dict[str, Any]], parse: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """Each deployment's 2-process rate against 70% of 2 x the single-core parse rate (both parse figures)."""
    out: dict[str, Any] = {}
    for run in runs:
        if run["processes"] != 2:
            continue
        out[run["deployment"]] = {
            "reports_per_second_2_processes": run["reports_per_second"],
            "target_70pct_of_2x_parse_bench": round(0.7 * 2 * parse["pages_per_second_one_core"], 2),
            "share_of_2x_parse_bench": round(run["reports_per_second"] / (2 * parse["pages_per_second_one_core"]), 3),
            "share_of_2x_same_pages_parse": round(run["reports_per_second"] / (2 * own["pages_per_second_one_core"]),
                                                  3),
        }
    return out


def celery_overhead(runs: list[dict[str, Any]], phases: dict[str, Any]) -> dict[str, float]:
    """Worker wall time per report at 1 process minus the in-process time of the same work, in ms."""
    out = {}
    for run in runs:
        if run["processes"] == 1 and run["deployment"] in phases:
            wall = 1000 / run["reports_per_second"]
            out[run["deployment"]] = round(wall - phases[run["deployment"]]["mean_ms_per_report"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one copy of the corpus, no bench/parse.py run")
    parser.add_argument("--copies", type=int, default=3, help="copies of the 39-page corpus per deployment run")
    parser.add_argument("--skip-parse-bench", action="store_true", help="do not run bench/parse.py")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--only", choices=("embedded", "redis_postgresql"), help="one deployment only")
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--worker-arg", action="append", default=[], metavar="ARG",
                        help="extra option for every `fundcrawl worker` (repeatable), e.g. --prefetch-multiplier=2")
    args = parser.parse_args()
    copies = 1 if args.quick else args.copies
    report: dict[str, Any] = {"machine": machine(), "pages": f"{copies} x 39 real corpus pages (unique bytes)",
                              "worker_args": args.worker_arg}
    with tempfile.TemporaryDirectory(prefix="fundcrawl-bench-pipeline-") as tmp:
        folder = Path(tmp)
        # One extra copy for the cProfile pass, so every profiled report is a new page too.
        corpus = corpus_copies(folder / "corpus", copies + 1)
        replica = spawn_replica("--corpus", str(corpus))
        try:
            all_refs = refs_of(replica.catalogue())
            *timed_copies, spare = by_copy(all_refs, copies + 1)
            refs = [ref for copy in timed_copies for ref in copy]
            report["parse_same_pages"] = own = parse_rate(replica, timed_copies[0])
            runs = [run_deployment(setup, processes, replica, refs, folder / f"{setup.name}-{processes}",
                                   tuple(args.worker_arg))
                    for setup in (EMBEDDED, PRODUCTION) for processes in args.processes
                    if args.only in (None, setup.name)]
            report["runs"] = runs
            if not args.no_profile:
                report["profile"] = profile(replica, timed_copies[0], folder, spare)
                report["celery_and_broker_overhead_ms_per_report"] = celery_overhead(runs, report["profile"])
        finally:
            replica.close()
    if not (args.quick or args.skip_parse_bench):
        report["parse_bench"] = parse_bench(3)
    report["target"] = verdict(report["runs"], report.get("parse_bench", own), own)
    report["machine_after"] = machine()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    with redis_broker(REDIS_DB):
        main()
