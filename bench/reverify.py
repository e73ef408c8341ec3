"""Request cost of reverification: what re-checking stored reports for corrections costs the site.

Part 1 (measured): N reports are stored from the replica (a child process) in a SQLite database, the replica corrects
some in place, and one ``reverify`` run re-checks them all: requests and bytes per re-checked report, with the
site's conditional requests (304 Not Modified for unchanged pages) and without them (a full page every time).

Part 2 (computed from the schedule's policy, no network): how many re-checks per day the production entry of
``schedules/default.yaml`` asks for when the database holds this year's and last year's periodic reports of 14,000
funds (about 14,000 x 6 reports a year, sent on the disclosure calendar), and how stale the checks get within its
request cap.

    .venv/bin/python bench/reverify.py [--reports 200] [--corrected 10]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import AGENT, machine, spawn_replica
from crawler.discovery.reverify import check_interval, reverify
from crawler.models import FetchedPage
from crawler.schedules import ReverifySpec, load_schedules
from crawler.sources.eid import EidClient
from crawler.storage import Store, upgrade
from tests.storage.helpers import document, item, ref

#: Disclosure calendar: (month, day) each periodic report of a year is sent, roughly.
CALENDAR = {"q4": (1, 22), "annual": (3, 28), "q1": (4, 22), "q2": (7, 18), "interim": (8, 28), "q3": (10, 27)}
FUNDS = 14_000


def measured(reports: int, corrected: int) -> dict[str, Any]:
    replica = spawn_replica("--generate", "0", "--seed", "21")
    try:
        ids = replica.publish(reports, "FB030010", "2025")
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
            upgrade(url)
            store = Store.from_url(url)
            with EidClient(replica.url, AGENT) as client:
                for n, upload_info_id in enumerate(ids):
                    page = client.fetch_report(upload_info_id)
                    fund = f"{n:06d}"
                    store.add_discovered([ref(upload_info_id, fund_code=fund)])
                    store.save_report(item(upload_info_id, sha=page.sha256, final_url=page.final_url,
                                           document=document(fund), page_etag=page.etag,
                                           page_last_modified=page.last_modified), "x")
                for upload_info_id in ids[:corrected]:
                    replica.correct(upload_info_id, "in_place")
                runs = {}
                for label, conditional in (("conditional", True), ("unconditional", False)):
                    replica.set_config(conditional_requests=conditional)
                    runs[label] = _one_run(replica, client, store, reports)
    finally:
        replica.close()
    return {"reports": reports, "corrected_in_place": corrected, **runs}


def _one_run(replica: Any, client: EidClient, store: Store, reports: int) -> dict[str, Any]:
    position = replica.log_position()
    spec = ReverifySpec(report_types=["q1"], years=["2025"], max_requests=10 * reports, min_interval="1s",
                        age_divisor=10**9)
    later = store.clock() + dt.timedelta(seconds=2)

    def store_page(upload_info_id: int, page: FetchedPage) -> str:
        return "stored"  # the bench counts requests; storing the changed page is not part of the site's cost

    _result, stats = reverify(client, store, spec, dt.date(2025, 5, 1), store_page, now=later)
    log = replica.log(position)
    return {"checked": stats.checked, "requests": stats.requests, "not_modified_304": stats.not_modified,
            "changed": len(stats.changed), "requests_per_check": round(stats.requests / max(stats.checked, 1), 3),
            "bytes_received": sum(int(entry.get("bytes") or 0) for entry in log),
            "bytes_per_check": round(sum(int(entry.get("bytes") or 0) for entry in log) / max(stats.checked, 1))}


def computed(today: dt.date) -> dict[str, Any]:
    """Daily re-check demand of the shipped entry over this year's and last year's periodic reports."""
    entry = load_schedules(REPO / "schedules" / "default.yaml").get("reverify-stored-reports")
    spec = entry.reverify
    assert spec is not None
    send_dates = [dt.date(year, month, day) for year in (today.year - 1, today.year)
                  for month, day in CALENDAR.values() if dt.date(year, month, day) <= today]
    per_day = sum(FUNDS * 86400.0 / check_interval(sent, today, spec) for sent in send_dates)
    oldest = min(send_dates)
    return {
        "as_of": today.isoformat(), "stored_reports": FUNDS * len(send_dates),
        "max_requests_per_run": spec.max_requests, "min_interval": spec.min_interval, "age_divisor": spec.age_divisor,
        "checks_per_day_asked_by_the_policy": round(per_day),
        "check_interval_days": {"sent_7_days_ago": round(check_interval(today - dt.timedelta(days=7), today, spec)
                                                         / 86400, 1),
                                "sent_1_year_ago": round(check_interval(today - dt.timedelta(days=365), today, spec)
                                                         / 86400, 1),
                                "oldest_in_scope": round(check_interval(oldest, today, spec) / 86400, 1)},
        "days_to_check_everything_once_at_the_cap": round(FUNDS * len(send_dates) / spec.max_requests, 1),
        "site_minutes_per_run_at_2_requests_per_s": round(spec.max_requests / 2 / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--corrected", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps({"bench": "reverify", "machine": machine(), "measured": measured(args.reports, args.corrected),
                      "production_policy": [computed(dt.date(2026, 4, 30)), computed(dt.date(2026, 12, 4))]},
                     ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
