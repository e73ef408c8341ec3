"""The page archive in the database: storage per report, and re-parse throughput of the fleet.

    .venv/bin/python bench/archive.py [--copies 20] [--rounds 3] [--batch 40] [--only compression|footprint|reparse]

``compression``: the 39 real corpus pages (all distinct), in corpus order, saved through ``PageArchive`` into a
fresh SQLite database as the workers would (kind = report type): raw bytes, stored bytes (pages + references),
ms of CPU per page to compress and to read back (with the sha256 check).

``footprint``: the same 39 pages crawled from the replica by a real ``fundcrawl worker -c 2``, on the embedded
default (SQLite) and on PostgreSQL + Redis; the storage a report costs is the database growth (SQLite file, or
``pg_database_size``) plus the whole data dir (embedded database, broker, anything else), after the workers
stopped, against the raw bytes of the pages the site served. Target: at most 10%. Then a second copy of the
corpus (unique bytes; without the copies of the pages that became compression references) is crawled into the same
installation: ``per_report_added``, the storage a report adds once the tables and references exist.

``reparse``: ``--copies`` x the corpus (each copy's bytes unique) stored on PostgreSQL + Redis, every stored
document then made stale (as if an earlier parser had been wrong), and ``fundcrawl reparse --all`` queued for
``fundcrawl worker -Q reparse -c N`` (N = 1, 2, alternated, ``--rounds`` runs of each): after a warm-up task for
each process, reports re-parsed and rewritten per second, from the moment the timed work is published (the publisher
imports Celery before) to the moment the last batch recorded its outcomes (the items' own ``updated_at``, so the
bench polls only twice a second). A parse-only pass of the same pages in one process runs before the first run and
after each run: ``share_of_processes_x_parse_rate`` holds a run to the fastest pass of all (a slow moment of the
machine never lowers the bar), ``share_of_processes_x_adjacent_parse_rate`` to the faster of the passes just
before and just after it (the machine's speed drifts by a fifth within minutes), and
``share_of_processes_x_in_run_parse_rate`` to the parse rate of the same run: the workers run through
``bench/phase_worker.py``, which times the parse of each page in CPU time (a pass in this process cannot be at the
same moment as the run, and the drift is faster than a run); ``median_by_processes`` gives the median of each over
the rounds. Target: at least 0.7 x N x the parse-only rate. ``--batch`` sets the reports a task (the daemon's
``REPARSE_BATCH`` by default), to compare batch sizes. ``cpu_ms_per_report`` splits the
machine's CPU per timed report between the worker (main process and children), PostgreSQL (postmaster and
backends) and Redis; ``ceiling_reports_per_second`` is what the machine's cores would do at that cost, all busy.
Then the same re-parse once more in the bench process, a batch at a time, phase by phase (``in_process_profile``:
batch reads and writes, page read, parse, each item pipeline, per report).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from common import (
    CORPUS,
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
from phases import reparse_phase_profile, settings_for
from sqlalchemy import func, select, text

from crawler import processing
from crawler.archive import PageArchive, sha256_of
from crawler.parsing import PARSER_VERSION, parse_report
from crawler.storage import Store, dispose_engines, make_engine, upgrade
from crawler.storage.tables import reparse_items
from tests.e2e.harness import Daemon, redis_broker
from tests.replica import Replica

#: Timed re-parse tasks each process should get at least: with fewer, the last task of a run, which one process
#: does while the other has nothing left, weighs more than the work being timed.
TASKS_PER_PROCESS = 4
KINDS = {"annual": "FB010010", "interim": "FB020010", "q1": "FB030010", "q2": "FB030020", "q3": "FB030030",
         "q4": "FB030040", "profile": "FA010070"}


def corpus_pages() -> list[tuple[str, bytes]]:
    with (CORPUS / "MANIFEST.csv").open(encoding="utf-8", newline="") as handle:
        files = [row["file"] for row in csv.DictReader(handle)]
    return [(KINDS.get(name.rsplit("_", 1)[-1].removesuffix(".html"), ""), (CORPUS / name).read_bytes())
            for name in files]


def compression(folder: Path) -> dict[str, Any]:
    url = f"sqlite:///{folder / 'compression.sqlite'}"
    upgrade(url)
    store = Store.from_url(url)
    archive = PageArchive(store)
    pages = corpus_pages()
    cpu = time.process_time()
    for kind, body in pages:
        archive.save(body, kind)
    save_ms = (time.process_time() - cpu) / len(pages) * 1000
    reader = PageArchive(Store.from_url(url))
    cpu = time.process_time()
    for _kind, body in pages:
        reader.read(sha256_of(body))
    read_ms = (time.process_time() - cpu) / len(pages) * 1000
    totals = store.archive_totals()
    stored = totals["page_bytes"] + totals["reference_bytes"]
    dispose_engines()
    return {"pages": len(pages), "raw_bytes": totals["raw_bytes"], "page_bytes": totals["page_bytes"],
            "references": totals["references"], "reference_bytes": totals["reference_bytes"],
            "ratio_with_references": round(totals["raw_bytes"] / stored, 1),
            "ratio_pages_only": round(totals["raw_bytes"] / totals["page_bytes"], 1),
            "cpu_ms_per_page_save": round(save_ms, 1), "cpu_ms_per_page_read_verified": round(read_ms, 1)}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def database_bytes(database_url: str) -> int:
    engine = make_engine(database_url)
    if engine.dialect.name == "sqlite":
        return 0  # the SQLite file lives in the data dir, which is counted whole
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def footprint(setup: Setup, replica: Replica, folder: Path) -> dict[str, Any]:
    """Storage per report from an empty database (the corpus's 39 pages), then per report added to it.

    The replica serves two copies of the corpus (each copy's bytes unique). The first crawl stores copy 0: the
    growth of an empty installation, which includes what is paid once (each table's and index's first pages, one
    compression reference per report kind). The second crawl adds copy 1, except the pages whose copy 0 became a
    reference (a page compressed against its own near-copy would flatter the figure): the storage a report adds to a
    database that already holds reports, which is what a deployment pays for each report over the years.
    """
    folder.mkdir(parents=True)
    catalogue = replica.catalogue()
    first = [entry for entry in catalogue if Path(entry["corpus_file"]).name.startswith("c0_")]
    with setup.urls(folder) as (database_url, broker_url):
        daemon = Daemon(folder, replica.url, database_url, broker_url, env_extra={
            "FUNDCRAWL_RATE_LIMIT": MAX_RATE, "FUNDCRAWL_LOG_LEVEL": "WARNING"})
        daemon.data_dir.mkdir(parents=True, exist_ok=True)
        empty = _crawl(daemon, database_url, first, len(first))
        origin = {Path(entry["corpus_file"]).name[3:]: entry["upload_info_id"] for entry in first}
        references, sha_of = _reference_pages(database_url)
        added = [entry for entry in catalogue if Path(entry["corpus_file"]).name.startswith("c1_")
                 and sha_of.get(origin[Path(entry["corpus_file"]).name[3:]]) not in references]
        more = _crawl(daemon, database_url, added, len(first) + len(added))
        dispose_engines()
    from_empty = _figures(empty, setup.name, len(first))
    from_empty["per_report_added"] = _figures(more, setup.name, len(added))
    return from_empty


def _crawl(daemon: Daemon, database_url: str, entries: list[dict[str, Any]], total: int) -> dict[str, int]:
    """Crawl ``entries`` with a real worker until ``total`` reports are terminal; what the database, the data
    dir and the archive grew by."""
    dispose_engines()
    store = Store.from_url(database_url)
    before_db, before_dir, before = database_bytes(database_url), folder_bytes(daemon.data_dir), store.archive_totals()
    fetch(daemon, store.add_discovered(refs_of(entries)), total)
    dispose_engines()
    store = Store.from_url(database_url)
    after, stored = store.archive_totals(), store.counts()["stored"]
    grew = {"database": database_bytes(database_url) - before_db}
    dispose_engines()
    grew["data_dir"] = folder_bytes(daemon.data_dir) - before_dir
    grew.update({key: after[key] - before[key] for key in ("raw_bytes", "page_bytes", "reference_bytes")})
    grew["stored"] = stored
    return grew


def fetch(daemon: Daemon, ids: list[int], total: int) -> None:
    """Store ``ids`` with a real ``fundcrawl worker -c 2`` until ``total`` reports are terminal, then stop it."""
    try:
        daemon.start("worker", "worker", "-c", "2", "--loglevel", "WARNING")
        publish(daemon, ids)
        wait_done(daemon, total)
    finally:
        daemon.stop_all()


def _reference_pages(database_url: str) -> tuple[set[str], dict[int, str]]:
    """The sha256 of every compression reference, and each report's page."""
    with make_engine(database_url).connect() as connection:
        references = {str(sha) for sha in connection.execute(text("SELECT sha256 FROM page_references")).scalars()}
        pages = connection.execute(text("SELECT upload_info_id, page_sha256 FROM reports")).all()
    return references, {int(upload_info_id): str(sha) for upload_info_id, sha in pages}


def _figures(grew: dict[str, int], deployment: str, reports: int) -> dict[str, Any]:
    raw, archive = grew["raw_bytes"], grew["page_bytes"] + grew["reference_bytes"]
    return {"deployment": deployment, "reports": reports, "stored_in_all": grew["stored"], "raw_page_bytes": raw,
            "database_growth_bytes": grew["database"], "data_dir_growth_bytes": grew["data_dir"],
            "archive_bytes": archive,
            "storage_per_report_pct_of_page_bytes": round((grew["database"] + grew["data_dir"]) / raw * 100, 1),
            "of_which_archive_pct": round(archive / raw * 100, 1)}


#: A publisher with the deployment's settings: it imports Celery and the tasks first (about two seconds), says
#: "ready", and publishes when told to, printing the wall-clock time it started publishing.
#: The publisher takes the reports a task (``--batch``), the run and its ids; it says when it is ready, and publishes
#: when told.
PUBLISHER = ("import sys, time; from crawler import processing; from crawler.tasks import publish_reparse; "
             "processing.REPARSE_BATCH = int(sys.argv[1]); print('ready', flush=True); "
             "sys.stdin.readline(); sent = time.time(); "
             "publish_reparse(int(sys.argv[2]), [int(a) for a in sys.argv[3:]]); print(sent, flush=True)")


def publish_reparse(daemon: Daemon, run_id: int, ids: list[int]) -> float:
    """Queue ``ids`` of run ``run_id`` for the re-parse workers; the wall-clock time the publishing started.

    The throughput is the workers' once the work is queued, so the publisher's own interpreter start and imports
    happen before that moment (a user's ``fundcrawl reparse`` pays them once, however long the run).
    """
    with subprocess.Popen([sys.executable, "-c", PUBLISHER, str(processing.REPARSE_BATCH), str(run_id), *map(str, ids)],
                          env=daemon.env, cwd=REPO,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        assert process.stdin is not None and process.stdout is not None
        if process.stdout.readline().strip() == "ready":
            process.stdin.write("go\n")
            process.stdin.flush()
        sent = process.stdout.readline().strip()
        _out, errors = process.communicate(timeout=300)
    if process.returncode != 0 or not sent:
        raise RuntimeError(f"the publisher failed ({process.returncode}):\n{errors[-3000:]}")
    return float(sent)


def wait_run(database_url: str, run_id: int, daemon: Daemon, timeout: float = 900) -> float:
    """Wait until no item of the run is pending; the wall-clock time the last batch was recorded.

    That time is the items' own ``updated_at`` (the worker's clock, set when a batch's outcomes are recorded), so
    this loop can look only twice a second: a tighter poll would take CPU from the workers it is timing.
    """
    store = Store.from_url(database_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.reparse_progress(run_id)["pending"] == 0:
            with make_engine(database_url).connect() as connection:
                last = connection.execute(select(func.max(reparse_items.c.updated_at)).where(
                    reparse_items.c.run_id == run_id)).scalar_one()
            return float(last.timestamp())
        for process in daemon.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited ({process.returncode})\n{daemon.logs()}")
        time.sleep(0.5)
    raise RuntimeError(f"timed out: {store.reparse_progress(run_id)}\n{daemon.logs()}")


def parse_only_rate(bodies: list[bytes]) -> float:
    """Pages parsed per second by this process, one pass over ``bodies``."""
    started = time.perf_counter()
    for body in bodies:
        parse_report(body)
    return len(bodies) / (time.perf_counter() - started)


def make_stale(database_url: str) -> None:
    """Every stored document replaced by one an earlier, wrong parser of this version might have produced."""
    with make_engine(database_url).begin() as connection:
        connection.execute(text("UPDATE report_documents SET document = :doc"),
                           {"doc": json.dumps({"schema": "fundcrawl.report/1", "fund_code": "stale"})})


def reparse(replica: Replica, total: int, folder: Path, processes: list[int], rounds: int) -> dict[str, Any]:
    folder.mkdir(parents=True)
    runs: list[dict[str, Any]] = []
    with PRODUCTION.urls(folder) as (database_url, broker_url):
        daemon = Daemon(folder, replica.url, database_url, broker_url, env_extra={
            "FUNDCRAWL_RATE_LIMIT": MAX_RATE, "FUNDCRAWL_LOG_LEVEL": "WARNING"})
        fetch(daemon, Store.from_url(database_url).add_discovered(refs_of(replica.catalogue())), total)
        bodies = [PageArchive(Store.from_url(database_url)).read(str(sha))
                  for _id, sha in Store.from_url(database_url).stored_for_reparse(PARSER_VERSION, True)]
        dispose_engines()
        # A parse-only pass before the first run and after every run: the machine's speed drifts, so each run is
        # also held to the passes just before and just after it.
        passes = [parse_only_rate(bodies)]
        for _round in range(rounds):
            for count in processes:
                run = reparse_run(daemon, database_url, count)
                passes.append(parse_only_rate(bodies))
                run["parse_only_before_and_after"] = [round(rate, 2) for rate in passes[-2:]]
                runs.append(run)
        # Where a rewritten report's time goes: the same work in this process, batch by batch, phase by phase.
        make_stale(database_url)
        store = Store.from_url(database_url)
        run_id, _resumed = store.start_reparse(PARSER_VERSION, True)
        (folder / "profile").mkdir()
        profile = reparse_phase_profile(settings_for(replica.url, folder / "profile", database_url, None), run_id,
                                        store.reparse_pending(run_id))
        store.finish_reparse(run_id)
        dispose_engines()
    # The fastest pass of all: a moment the machine was slower never lowers the bar.
    parse_rate = max(passes)
    cores = psutil.cpu_count() or 1
    for run in runs:
        run["target"] = round(0.7 * run["processes"] * parse_rate, 2)
        run["share_of_processes_x_parse_rate"] = round(run["reports_per_second"] / (run["processes"] * parse_rate),
                                                       3)
        adjacent = max(run["parse_only_before_and_after"])
        run["share_of_processes_x_adjacent_parse_rate"] = round(
            run["reports_per_second"] / (run["processes"] * adjacent), 3)
        # What this machine could do at that CPU cost per report with every core busy (the replica is idle here).
        ceiling = cores / run["cpu_ms_per_report"]["all_of_these"] * 1000
        run["ceiling_reports_per_second"] = round(ceiling, 2)
        run["ceiling_share_of_processes_x_parse_rate"] = round(ceiling / (run["processes"] * parse_rate), 3)
    medians = {}
    for count in processes:
        mine = [run for run in runs if run["processes"] == count]
        medians[str(count)] = {
            **{share: statistics.median(run[share] for run in mine) for share in (
                "share_of_processes_x_parse_rate", "share_of_processes_x_adjacent_parse_rate",
                "share_of_processes_x_in_run_parse_rate")},
            "runs_meeting_the_target": sum(run["share_of_processes_x_parse_rate"] >= 0.7 for run in mine),
            "runs": len(mine)}
    return {"deployment": PRODUCTION.name, "pages": len(bodies), "reports_a_task": processing.REPARSE_BATCH,
            "parse_only_pages_per_second_one_core": round(parse_rate, 2),
            "parse_only_passes": [round(rate, 2) for rate in passes], "median_by_processes": medians, "runs": runs,
            "in_process_profile": profile}


def reparse_run(daemon: Daemon, database_url: str, count: int) -> dict[str, Any]:
    """Every stored report made stale, then ``reparse --all`` through ``count`` worker processes, timed."""
    make_stale(database_url)
    store = Store.from_url(database_url)
    run_id, _resumed = store.start_reparse(PARSER_VERSION, True)
    todo = store.reparse_pending(run_id)
    # One task for each process first: a process's first task also opens its connections and reads the
    # compression references, which the timed work should not count.
    warm, timed = todo[: count * processing.REPARSE_BATCH], todo[count * processing.REPARSE_BATCH:]
    if len(timed) < TASKS_PER_PROCESS * count * processing.REPARSE_BATCH:
        raise SystemExit(f"{len(todo)} reports are too few to time {count} processes: each should get at least "
                         f"{TASKS_PER_PROCESS} tasks of {processing.REPARSE_BATCH} after its warm-up (raise --copies)")
    phases = daemon.log_dir.parent / f"phases-{run_id}"
    try:
        start_phase_worker(daemon, phases, "-Q", "reparse", "-c", str(count), "--loglevel", "WARNING")
        publish_reparse(daemon, run_id, warm)
        deadline = time.monotonic() + 300
        while (progress := store.reparse_progress(run_id))["total"] - progress["pending"] < len(warm):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up tasks did not finish: {progress}\n{daemon.logs()}")
            time.sleep(0.1)
        groups = {"worker": daemon.processes, "postgresql": service_processes("postgres"),
                  "redis": service_processes("redis-server")}
        before = cpu_by_group(groups)
        started = publish_reparse(daemon, run_id, timed)
        finished = wait_run(database_url, run_id, daemon)
        cpu = {name: value - before[name] for name, value in cpu_by_group(groups).items()}
    finally:
        daemon.stop_all()
    progress = store.reparse_progress(run_id)
    store.finish_reparse(run_id)
    per_report = {name: round(value / len(timed) * 1000, 1) for name, value in cpu.items()}
    dispose_engines()
    # The parse inside the workers' timed tasks, in CPU time: the single-process parse rate at the very moment of
    # the run, which the machine's drift cannot separate from the run's own speed.
    parse_cpu_ms = sum(line["parse_cpu"] for line in read_phase_lines(phases) if line["started_at"] >= started)
    rate = len(timed) / (finished - started)
    in_run_parse_rate = len(timed) / parse_cpu_ms * 1000
    return {"processes": count, "reports": len(timed), "updated": progress["updated"], "failed": progress["failed"],
            "reports_per_second": round(rate, 2),
            "cpu_ms_per_report": {**per_report, "all_of_these": round(sum(per_report.values()), 1)},
            "in_run_parse_cpu_ms_per_page": round(parse_cpu_ms / len(timed), 2),
            "share_of_processes_x_in_run_parse_rate": round(rate / (count * in_run_parse_rate), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=20,
                        help="copies of the corpus for the re-parse bench (enough for several tasks per process)")
    parser.add_argument("--only", choices=("compression", "footprint", "reparse"))
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="re-parse runs per process count, alternated")
    parser.add_argument("--batch", type=int, default=processing.REPARSE_BATCH,
                        help=f"reports a re-parse task (default: the daemon's, {processing.REPARSE_BATCH})")
    args = parser.parse_args()
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    processing.REPARSE_BATCH = args.batch  # the publisher, the warm-up and the in-process profile take it from here
    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="fundcrawl-bench-archive-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "compression"):
            report["compression"] = compression(folder)
        if args.only in (None, "footprint"):
            replica = spawn_replica("--corpus", str(corpus_copies(folder / "footprint-corpus", 2)))
            try:
                report["footprint"] = [footprint(setup, replica, folder / setup.name)
                                       for setup in (EMBEDDED, PRODUCTION)]
            finally:
                replica.close()
        if args.only in (None, "reparse"):
            corpus = corpus_copies(folder / "corpus", args.copies)
            replica = spawn_replica("--corpus", str(corpus))
            try:
                report["reparse"] = reparse(replica, len(replica.catalogue()), folder / "reparse", args.processes,
                                           args.rounds)
            finally:
                replica.close()
    report["machine_after"] = machine()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    with redis_broker(REDIS_DB):
        main()
