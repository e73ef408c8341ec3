"""Discovery benchmarks against the replica (a child process); prints one JSON object.

    .venv/bin/python bench/discovery.py [--quick]

- ``full_scan``: listing requests to walk an N-row partition, against the minimum ceil(N/20), for a stable
  and a fully shuffled order (every request sees a fresh random order).
- ``steady_incremental``: ticks that each find ``per_tick`` new reports in a partition that already holds
  ``base`` reports, published on its busiest day (which then has to be listed again: the site has no order
  within a day) or on a new day each tick: listing requests per new report, and with the page fetch.
- ``history``: one incremental discovery that finds 100 new reports while 1k/10k/100k reports of other
  partitions are already stored (synthetic rows inserted through the Store): its time and requests should
  not grow with the stored history.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from common import AGENT, Q1, TODAY, timed_incremental_discovery

from crawler.discovery import DiscoveryPlan, Query, discover, walk
from crawler.models import ReportRef
from crawler.sources.eid import EidClient
from crawler.storage import Store, dispose_engines, make_engine, upgrade
from tests.replica import Replica


def new_store(folder: Path, name: str) -> Store:
    url = f"sqlite:///{folder / name}.sqlite"
    upgrade(url)
    return Store(make_engine(url))


def full_scan(rows: int, order: str) -> dict[str, Any]:
    site = Replica.spawn("--generate", str(rows), "--seed", "1", "--order", order)
    try:
        with EidClient(site.url, AGENT) as client:
            started = time.perf_counter()
            result = walk(client, Query(Q1.report_type_code, Q1.report_year))
            seconds = time.perf_counter() - started
    finally:
        site.close()
    pages = math.ceil(rows / 20)
    return {"rows": rows, "order": order, "requests": result.requests, "ceil_rows_20": pages,
            "ratio": round(result.requests / pages, 3), "complete": result.complete,
            "distinct_ids": len(result.refs), "seconds": round(seconds, 2)}


def steady_incremental(folder: Path, base: int, ticks: int, per_tick: int, days: int | None,
                       next_day: bool = False) -> dict[str, Any]:
    """Ticks adding ``per_tick`` reports to the busiest day (``base`` * 70% rows), or each to a new day."""
    site = Replica.spawn("--generate", str(base), "--seed", "2")
    store = new_store(folder, f"steady-{days}-{next_day}")
    plan = DiscoveryPlan((Q1,), sent_within_days=days)
    try:
        with EidClient(site.url, AGENT) as client:
            discover(client, store, plan, TODAY)
            quiet = discover(client, store, plan, TODAY).requests
            spent = found = 0
            for tick in range(1, ticks + 1):
                today = TODAY + dt.timedelta(days=tick if next_day else 0)
                site.publish(per_tick, Q1.report_type_code, Q1.report_year, send_from=today.isoformat())
                result = discover(client, store, plan, today)
                spent, found = spent + result.requests, found + len(result.new_ids)
    finally:
        site.close()
    return {"mode": f"sent_within_days={days}", "published_on": "a new day each tick" if next_day
            else "the busiest day", "base": base, "ticks": ticks, "new_per_tick": per_tick,
            "new_found": found, "listing_requests": spent,
            "listing_requests_per_new_report": round(spent / found, 3),
            "requests_per_new_report_with_page_fetch": round((spent + found) / found, 3),
            "requests_quiet_tick": quiet}


def synthetic_history(store: Store, count: int) -> None:
    """``count`` stored reports in partitions the benchmark never queries (FB030040, 2000..2019)."""
    batch: list[ReportRef] = []
    for index in range(count):
        year = 2000 + index % 20
        batch.append(ReportRef(upload_info_id=10_000_000 + index, report_type_code="FB030040", fund_code=f"{index % 999999:06d}",
                               fund_short_name="历史基金", organ_name="华夏", report_year=str(year),
                               report_desp="第四季度报告", send_date=dt.date(year + 1, 1, 20)))
        if len(batch) == 5000:
            store.add_discovered(batch)
            batch = []
    store.add_discovered(batch)


def history(folder: Path, stored: int) -> dict[str, Any]:
    store = new_store(folder, f"history-{stored}")
    synthetic_history(store, stored)
    result, seconds = timed_incremental_discovery(store)
    return {"stored_before": stored, "new_found": len(result.new_ids), "requests": result.requests,
            "seconds": round(seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    quick = parser.parse_args().quick
    with tempfile.TemporaryDirectory(prefix="fundcrawl-bench-") as tmp:
        folder = Path(tmp)
        report = {
            "full_scan": [full_scan(n, "stable") for n in ((500,) if quick else (1000, 5000, 14000))]
            + [full_scan(n, "shuffle") for n in ((500,) if quick else (1000, 3000))],
            "steady_incremental": [steady_incremental(folder, 300 if quick else 3000, 3 if quick else 10, 50, days,
                                                      next_day) for next_day in (False, True) for days in (7, None)],
            "history": [history(folder, n) for n in ((1000, 10000) if quick else (1000, 10_000, 100_000))],
        }
        dispose_engines()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
