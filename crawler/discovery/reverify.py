"""Reverification: re-check stored reports so a page corrected behind the same uploadInfoId is noticed.

A correction may keep its id and even its send date, so neither discovery nor reconciliation sees it; only the
page's bytes change. A ``reverify`` schedule entry asks the site again for the pages of current stored reports
with a conditional GET (the report pages are static files: an unchanged one costs one request and a 304), and
stores a changed page as a new version of its report.

The politeness budget decides the order: a report is due again once ``max(min_interval, age / age_divisor)``
has passed since it was last checked (its age counted from its send date), so this week's reports are checked
daily and a three-year-old one every few months. Each run spends at most ``max_requests`` requests, on the most
overdue reports first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crawler.discovery.incremental import DiscoveryResult
from crawler.exceptions import CircuitOpenError, PermanentError, RateLimitedError, TransientError
from crawler.models import FetchedPage
from crawler.schedules import ReverifySpec
from crawler.sources.eid import EidClient
from crawler.storage import Store

log = logging.getLogger(__name__)

#: Most requests one re-check can spend: a conditional GET that finds the page moved, then the redirect and page.
MAX_REQUESTS_PER_CHECK = 3
StorePage = Callable[[int, FetchedPage], str]


@dataclass
class ReverifyStats:
    """What one run did: reports checked, 304 answers, unchanged 200s, changed pages, errors, requests."""

    due: int = 0
    checked: int = 0
    not_modified: int = 0
    unchanged: int = 0
    changed: list[int] = field(default_factory=list)
    errors: int = 0
    requests: int = 0
    interrupted: str | None = None


def check_interval(send_date: dt.date | None, today: dt.date, spec: ReverifySpec) -> float:
    """Seconds between two checks of a report sent on ``send_date``."""
    age_days = (today - send_date).days if send_date else 3650
    return max(float(spec.min_interval_seconds), max(age_days, 0) * 86400.0 / spec.age_divisor)


def due_reports(candidates: list[dict[str, Any]], spec: ReverifySpec, now: dt.datetime, today: dt.date
                ) -> list[dict[str, Any]]:
    """The candidates whose check interval has passed, most overdue first (ties: newest send date, then id)."""
    scored = []
    for row in candidates:
        last = row.get("verified_at") or row.get("fetched_at")
        waited = (now - last).total_seconds() if last else float("inf")
        overdue = waited / check_interval(row.get("send_date"), today, spec)
        if overdue >= 1:
            scored.append((-overdue, -(row["send_date"] or dt.date.min).toordinal(), row["upload_info_id"], row))
    return [row for *_, row in sorted(scored, key=lambda item: item[:3])]


def reverify(client: EidClient, store: Store, spec: ReverifySpec, today: dt.date, store_page: StorePage,
             now: dt.datetime | None = None) -> tuple[DiscoveryResult, ReverifyStats]:
    """Re-check the due reports of ``spec``'s partitions within its request cap; changed pages go to ``store_page``."""
    now = now or store.clock()
    sent_since = today - dt.timedelta(days=spec.sent_within_days) if spec.sent_within_days else None
    candidates = store.reverify_candidates(spec.report_types, spec.resolve_years(today), sent_since)
    due = due_reports(candidates, spec, now, today)
    stats = ReverifyStats(due=len(due))
    for row in due:
        # A check costs one request; a page that moved costs up to two more, the only way past the cap.
        if stats.requests >= spec.max_requests:
            break
        if not _check(client, store, row, stats, store_page):
            break
    log.info("reverify: %d due, %d checked, %d not modified (304), %d unchanged, %d changed, %d errors, "
             "%d requests%s", stats.due, stats.checked, stats.not_modified, stats.unchanged, len(stats.changed),
             stats.errors, stats.requests, f", interrupted: {stats.interrupted}" if stats.interrupted else "")
    result = DiscoveryResult(new_ids=[], listed=stats.checked, requests=stats.requests, incomplete=[],
                             interrupted=stats.interrupted)
    return result, stats


def _check(client: EidClient, store: Store, row: dict[str, Any], stats: ReverifyStats, store_page: StorePage
           ) -> bool:
    """Re-check one report; False when the run must stop (the site asked us to slow down)."""
    upload_info_id = int(row["upload_info_id"])
    try:
        recheck = client.recheck_report(upload_info_id, row.get("final_url") or "", etag=row.get("page_etag") or "",
                                        last_modified=row.get("page_last_modified") or "")
    except (CircuitOpenError, RateLimitedError) as error:
        stats.requests += 1
        stats.interrupted = f"{type(error).__name__}: {error}"
        return False
    except (TransientError, PermanentError) as error:
        stats.requests += 1
        stats.errors += 1
        log.warning("reverify: report %s could not be re-checked: %s", upload_info_id, error)
        return True
    stats.requests += recheck.requests
    stats.checked += 1
    if recheck.page is None:
        stats.not_modified += 1
        store.mark_verified(upload_info_id)
        return True
    page = recheck.page
    if hashlib.sha256(page.body).hexdigest() == row.get("page_sha256"):
        stats.unchanged += 1
        store.mark_verified(upload_info_id, etag=page.etag, last_modified=page.last_modified)
        return True
    log.info("reverify: report %s page changed (was %s)", upload_info_id, str(row.get("page_sha256"))[:12])
    if store_page(upload_info_id, page) == "stored":
        stats.changed.append(upload_info_id)
    else:
        stats.errors += 1
    return True
