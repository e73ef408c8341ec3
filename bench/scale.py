"""Does ``fundcrawl status`` or an incremental discovery slow down as the history grows?

    .venv/bin/python bench/scale.py [--quick] [--sizes 1000 10000 100000]

For SQLite and PostgreSQL and each history size N: a fresh database holds N synthetic reports (2% failed, a
backlog of 200 pending, the rest stored, every 50th stored one flagged by a cross-check and an unknown
heading; in partitions the discovery never queries: FB030040 2000..2019; bulk-loaded through
``crawler.storage.bulk``). Then:

- ``status_ms``: ``collect_status`` (everything ``fundcrawl status`` shows), median of 5 calls after a warm-up,
  and ``status_parts_ms``: each of its queries alone;
- ``discovery``: the replica (a child process) lists 500 Q1-2025 reports, a first discovery stores them, 100
  more are published on the last day of the window, and the timed incremental discovery
  (``sent_within_days=7``) finds them: seconds, listing requests, new reports.

``growth_100k_over_1k`` divides the largest size's figures by the smallest's: about 1 means flat.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import EMBEDDED, PRODUCTION, Setup, machine, timed_incremental_discovery

from crawler.cli.status import collect_status
from crawler.storage import Store, dispose_engines
from crawler.storage.bulk import insert_report_rows

NOW = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
#: The cross-checks ``crawler.parsing.checks.run_checks`` records on every stored report.
CHECKS = ("asset_total", "asset_pct", "holding_pct", "nav_per_unit", "balance_sheet", "share_changes", "holder_totals")
#: A constant backlog: what is pending depends on the crawl's progress, not on the size of the history.
PENDING = 200


def history_rows(count: int) -> Iterator[dict[str, Any]]:
    """``count`` report rows as years of crawling would leave them (ids far from the replica's)."""
    for index in range(count):
        year = 2000 + index % 20
        state = "pending" if index < PENDING else ("failed" if index % 50 == 1 else "stored")
        stored = state == "stored"
        flagged = stored and index % 50 == 0
        yield {
            "upload_info_id": 50_000_000 + index, "report_type_code": "FB030040", "report_year": str(year),
            "fund_code": f"{index % 999_999:06d}", "fund_short_name": "历史基金", "organ_name": "华夏",
            "report_desp": "第四季度报告", "send_date": dt.date(year + 1, 1, 20), "period_end": dt.date(year, 12, 31),
            "state": state, "attempts": 1, "check_failures": 1 if flagged else 0,
            "checks": {**dict.fromkeys(CHECKS), "asset_total": "off by 1.2%" if flagged else None} if stored else None,
            "unknown_sections": ["§99 新章节"] if flagged else [] if stored else None,
            "failure_reason": "http_404" if state == "failed" else None,
            "last_error": "NotFoundError: gone" if state == "failed" else None,
            "page_sha256": f"{index:064x}" if stored else None, "parser_version": "1.0.0" if stored else None,
            "discovered_at": NOW - dt.timedelta(minutes=index), "enqueued_at": NOW - dt.timedelta(minutes=index),
            "stored_at": NOW - dt.timedelta(minutes=index) if stored else None,
            "updated_at": NOW - dt.timedelta(minutes=index),
        }


def median_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return round(statistics.median(samples) * 1000, 1)


def status_parts(database_url: str) -> dict[str, float]:
    """Each query of ``collect_status`` on its own (the same calls it makes)."""
    store = Store.from_url(database_url)
    parts: dict[str, Callable[[], object]] = {
        "counts": store.counts, "oldest_pending": store.oldest_pending,
        "partitions": store.partitions.status, "last_runs": store.runs.recent,
        "recent_failures": store.recent_failures, "parse_flags": store.health.parse_flag_summary,
    }
    return {name: median_ms(fn) for name, fn in parts.items()}


def time_discovery(database_url: str) -> dict[str, Any]:
    """One incremental discovery that finds 100 new reports among 600 listed in its window."""
    result, seconds = timed_incremental_discovery(Store.from_url(database_url))
    return {"seconds": round(seconds, 3), "requests": result.requests, "new": len(result.new_ids)}


def measure(setup: Setup, size: int, folder: Path) -> dict[str, Any]:
    here = folder / f"{setup.name}-{size}"
    here.mkdir(parents=True)
    with setup.urls(here) as (database_url, _):
        started = time.perf_counter()
        insert_report_rows(Store.from_url(database_url), history_rows(size))
        load = time.perf_counter() - started
        result = {"engine": setup.engine, "stored_before": size, "load_seconds": round(load, 1),
                  "status_ms": median_ms(lambda: collect_status(database_url)),
                  "status_parts_ms": status_parts(database_url), "discovery": time_discovery(database_url)}
        dispose_engines()
    return result


def growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for engine in sorted({row["engine"] for row in rows}):
        mine = sorted((row for row in rows if row["engine"] == engine), key=lambda row: row["stored_before"])
        first, last = mine[0], mine[-1]
        out[engine] = {
            "status": round(last["status_ms"] / first["status_ms"], 2),
            "discovery_seconds": round(last["discovery"]["seconds"] / first["discovery"]["seconds"], 2),
            "discovery_requests": round(last["discovery"]["requests"] / first["discovery"]["requests"], 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1k and 10k only")
    parser.add_argument("--sizes", type=int, nargs="*")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    sizes = args.sizes or ([1000, 10_000] if args.quick else [1000, 10_000, 100_000])
    setups = [setup for setup in (EMBEDDED, PRODUCTION) if args.only in (None, setup.engine)]
    with tempfile.TemporaryDirectory(prefix="fundcrawl-bench-scale-") as tmp:
        rows = [measure(setup, size, Path(tmp)) for setup in setups for size in sizes]
    key = f"growth_{sizes[-1] // 1000}k_over_{sizes[0] // 1000}k"
    print(json.dumps({"machine": machine(), "runs": rows, key: growth(rows)}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
