"""Where the time of one report task goes: ``processing.process_report`` in this process, phase by phase.

The collaborators are the ones a worker child builds (``processing.runtime``: the store, the rate-limited client,
the archive, the pipeline runner); each phase's entry point is wrapped with a timer, nothing is replaced.
Phases: claim (the compare-and-set that takes the row), politeness (limiter and breaker calls), download (the
302 and the page, minus politeness), archive (sha256 + temp file + fsync + rename), parse, one entry per item
pipeline (validate = cross-checks, dedupe, store = the save transaction), and ``other`` (item building,
logging, metrics). A cProfile pass over other reports names the top functions.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crawler import processing
from crawler.models import ReportRef
from crawler.settings import Settings

Timings = dict[str, list[float]]


def _timed(timings: Timings, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[name].append(time.perf_counter() - started)
            timings[name + "_cpu"].append(time.process_time() - cpu)

    return wrapper


def instrument(rt: processing.Runtime, timings: Timings) -> None:
    """Wrap each phase's entry point of this runtime (and processing's parse) with a timer."""
    rt.store.claim = _timed(timings, "claim", rt.store.claim)  # type: ignore[method-assign]
    rt.client.fetch_report = _timed(timings, "download", rt.client.fetch_report)  # type: ignore[method-assign]
    if rt.client.limiter is not None:
        rt.client.limiter.acquire = _timed(timings, "politeness", rt.client.limiter.acquire)  # type: ignore[method-assign]
    if rt.client.breaker is not None:
        rt.client.breaker.check = _timed(timings, "politeness", rt.client.breaker.check)  # type: ignore[method-assign]
    rt.archive.save = _timed(timings, "archive", rt.archive.save)  # type: ignore[method-assign]
    processing.parse_report = _timed(timings, "parse", processing.parse_report)  # type: ignore[assignment]
    for pipeline in rt.runner.pipelines:
        name = "pipeline:" + type(pipeline).__name__.removesuffix("Pipeline").lower()
        pipeline.process_item = _timed(timings, name, pipeline.process_item)


def settings_for(source_url: str, folder: Path, database_url: str, redis_url: str | None) -> Settings:
    # The rate limit at its ceiling, as in the worker runs: the limiter is called, but never waits.
    return Settings(source_url=source_url, data_dir=folder, database_url=database_url, redis_url=redis_url,
                    rate_limit=1000, politeness_key_prefix=f"fundcrawl-bench:{folder.name}", log_level="WARNING")


def phase_profile(settings: Settings, refs: list[ReportRef]) -> dict[str, Any]:
    """Process ``refs`` one after the other in this process; per-phase mean milliseconds and shares."""
    original_parse = processing.parse_report
    rt = processing.runtime(settings)
    timings: Timings = defaultdict(list)
    try:
        instrument(rt, timings)
        rt.store.add_discovered(refs)
        for ref in refs:
            started, cpu = time.perf_counter(), time.process_time()
            state = processing.process_report(rt, ref.upload_info_id)
            timings["total"].append(time.perf_counter() - started)
            timings["total_cpu"].append(time.process_time() - cpu)
            timings["state:" + state].append(0.0)
    finally:
        processing.parse_report = original_parse  # type: ignore[assignment]
        rt.close()
        processing._runtimes.clear()
    return summarise(timings)


def reparse_phase_profile(settings: Settings, run_id: int, ids: list[int]) -> dict[str, Any]:
    """Re-parse ``ids`` of a run in this process, a batch at a time as a task does; per-phase mean milliseconds.

    Phases: the batch's one read and one write (``batch_io``, shared by its reports), reading and verifying the
    page (``archive``), parse, one entry per item pipeline (dedupe = the read-back comparison, store = the save
    transaction), and ``other``.
    """
    original_parse = processing.parse_report
    rt = processing.runtime(settings)
    timings: Timings = defaultdict(list)
    try:
        rt.store.reparse_work = _timed(timings, "batch_io", rt.store.reparse_work)  # type: ignore[method-assign]
        rt.store.finish_reparse_items = _timed(  # type: ignore[method-assign]
            timings, "batch_io", rt.store.finish_reparse_items)
        # The batch's pages are fetched in one read, then each decompressed and verified as the batch reaches it.
        rt.archive.read_many = _timed(timings, "archive", rt.archive.read_many)  # type: ignore[method-assign]
        rt.archive._verified = _timed(timings, "archive", rt.archive._verified)  # type: ignore[method-assign]
        processing.parse_report = _timed(timings, "parse", processing.parse_report)  # type: ignore[assignment]
        for pipeline in rt.runner.pipelines:
            name = "pipeline:" + type(pipeline).__name__.removesuffix("Pipeline").lower()
            pipeline.process_item = _timed(timings, name, pipeline.process_item)
            if hasattr(pipeline, "process_items"):  # a batch at a time: its time is shared by the batch's reports
                pipeline.process_items = _timed(timings, name, pipeline.process_items)
        for start in range(0, len(ids), processing.REPARSE_BATCH):
            batch = ids[start:start + processing.REPARSE_BATCH]
            started, cpu = time.perf_counter(), time.process_time()
            outcomes = processing.reparse_items(rt, run_id, batch)
            wall, used = time.perf_counter() - started, time.process_time() - cpu
            for outcome in outcomes.values():  # the batch's time, shared by its reports
                timings["total"].append(wall / len(outcomes))
                timings["total_cpu"].append(used / len(outcomes))
                timings["state:" + outcome].append(0.0)
    finally:
        processing.parse_report = original_parse  # type: ignore[assignment]
        rt.close()
        processing._runtimes.clear()
    return summarise(timings)


def summarise(timings: Timings) -> dict[str, Any]:
    """Per phase: mean wall and CPU milliseconds per report and the share of the wall time."""
    count = len(timings["total"])
    sums = {name: sum(values) for name, values in timings.items() if not name.startswith("state:")}
    for suffix in ("", "_cpu"):
        if "download" + suffix in sums:
            sums["download" + suffix] -= sums.get("politeness" + suffix, 0.0)
        parts = [value for name, value in sums.items()
                 if name.endswith("_cpu") == bool(suffix) and name not in ("total", "total_cpu")]
        sums["other" + suffix] = sums["total" + suffix] - sum(parts)
    wall = sums["total"]
    phases = {name: {"mean_ms": round(value / count * 1000, 2), "share": round(value / wall, 3),
                     "cpu_mean_ms": round(sums[name + "_cpu"] / count * 1000, 2)}
              for name, value in sorted(sums.items(), key=lambda item: -item[1])
              if name != "total" and not name.endswith("_cpu")}
    return {"reports": count, "states": {n[6:]: len(v) for n, v in timings.items() if n.startswith("state:")},
            "mean_ms_per_report": round(wall / count * 1000, 1),
            "cpu_ms_per_report": round(sums["total_cpu"] / count * 1000, 1),
            "median_ms_per_report": round(statistics.median(timings["total"]) * 1000, 1),
            "reports_per_second_one_process": round(count / wall, 2), "phases": phases}


def cprofile_top(settings: Settings, refs: list[ReportRef], top: int = 25) -> list[dict[str, Any]]:
    """cProfile over ``process_report`` for ``refs``: the functions with the most cumulative and own time."""
    rt = processing.runtime(settings)
    profiler = cProfile.Profile()
    try:
        rt.store.add_discovered(refs)
        profiler.enable()
        for ref in refs:
            processing.process_report(rt, ref.upload_info_id)
        profiler.disable()
    finally:
        rt.close()
        processing._runtimes.clear()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = []
    for (path, line, name), (_cc, calls, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{_short(path)}:{line}({name})", "calls": calls,
                     "own_share": round(own / total, 3), "cumulative_share": round(cumulative / total, 3)})
    by_own = sorted(rows, key=lambda row: -row["own_share"])[:top]
    return by_own


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/main/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
