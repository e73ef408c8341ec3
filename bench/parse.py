"""Parser speed and memory on the real corpus, against the lxml DOM-only floor.

Prints one JSON object: per report kind the median and p95 milliseconds per page for full extraction
(``parse_report``), pages per second on one core, the floor (``lxml.html.fromstring`` on the same bytes,
measured in the same run, alternating with the full parse) and the ratio, and the tracemalloc peak per
page against the page size. Per page the fastest of ``--repeat`` runs counts; the ratio is also given in
thread CPU time, which a busy machine disturbs less than wall time.

    .venv/bin/python bench/parse.py [--corpus ../shared/corpus] [--repeat 7]

tracemalloc sees Python allocations only; libxml2's own tree lives in C memory, so ``max_rss_mb`` (the
whole process) is printed as well.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lxml.html

from crawler.allocator import turn_off_fastbins
from crawler.parsing import PARSER_VERSION, parse_report
from crawler.parsing.dom import clear_cell_memo

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"


def kind_of(row: dict[str, str]) -> str:
    """Report kind for grouping; REIT annual reports form their own group (they are twice the size)."""
    kind = row["report_kind"]
    if kind.startswith("q"):
        return "quarterly"
    if kind == "annual" and row["fund_code"].startswith(("508", "180")):
        return "reit_annual"
    return kind


def timed(fn: Callable[[], Any], clock: Callable[[], float]) -> float:
    gc.disable()
    start = clock()
    fn()
    elapsed = clock() - start
    gc.enable()
    return elapsed


def best_of_interleaved(body: bytes, repeat: int, clock: Callable[[], float]) -> tuple[float, float]:
    """Fastest full parse and fastest lxml floor for one page, the two timed alternately.

    Alternating and keeping the minimum makes the ratio robust to other load on the machine: both sides
    see the same conditions, and the minimum is the cost of the work itself.
    """
    parse_report(body)
    lxml.html.fromstring(body)
    full, floor = [], []
    for _ in range(repeat):
        floor.append(timed(lambda: lxml.html.fromstring(body), clock))
        clear_cell_memo()  # cold: no cell of this page memoised from the previous run
        full.append(timed(lambda: parse_report(body), clock))
    return min(full), min(floor)


def peak_bytes(body: bytes) -> int:
    gc.collect()
    tracemalloc.start()
    parse_report(body)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(corpus: Path, repeat: int) -> dict[str, Any]:
    with (corpus / "MANIFEST.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pages = []
    for row in rows:
        body = (corpus / row["file"]).read_bytes()
        full, floor = best_of_interleaved(body, repeat, time.perf_counter)
        cpu_full, cpu_floor = best_of_interleaved(body, repeat, time.thread_time)
        page = {"kind": kind_of(row), "bytes": len(body), "full": full, "floor": floor}
        page.update(cpu_ratio=cpu_full / cpu_floor, peak=peak_bytes(body))
        pages.append(page)
    return summarise(pages)


def summarise(pages: list[dict[str, Any]]) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in sorted({p["kind"] for p in pages}):
        group = [p for p in pages if p["kind"] == kind]
        kinds[kind] = {
            "pages": len(group),
            "median_ms": round(statistics.median(p["full"] for p in group) * 1000, 2),
            "p95_ms": round(p95([p["full"] for p in group]) * 1000, 2),
            "floor_median_ms": round(statistics.median(p["floor"] for p in group) * 1000, 2),
            "median_kb": round(statistics.median(p["bytes"] for p in group) / 1024),
        }
    ratios = [p["full"] / p["floor"] for p in pages]
    memory = [p["peak"] / p["bytes"] for p in pages]
    return {
        "parser_version": PARSER_VERSION,
        "pages": len(pages),
        "by_kind": kinds,
        "median_ms": round(statistics.median(p["full"] for p in pages) * 1000, 2),
        "p95_ms": round(p95([p["full"] for p in pages]) * 1000, 2),
        "pages_per_second_one_core": round(len(pages) / sum(p["full"] for p in pages), 1),
        "floor_lxml_median_ms": round(statistics.median(p["floor"] for p in pages) * 1000, 2),
        "ratio_to_floor_median": round(statistics.median(ratios), 2),
        "ratio_to_floor_p95": round(p95(ratios), 2),
        "ratio_to_floor_total": round(sum(p["full"] for p in pages) / sum(p["floor"] for p in pages), 2),
        "ratio_to_floor_median_cpu_time": round(statistics.median(p["cpu_ratio"] for p in pages), 2),
        "peak_tracemalloc_x_page_size_median": round(statistics.median(memory), 2),
        "peak_tracemalloc_x_page_size_max": round(max(memory), 2),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    turn_off_fastbins()  # as every fundcrawl process parses (crawler/allocator.py)
    print(json.dumps(measure(args.corpus.resolve(), args.repeat), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
