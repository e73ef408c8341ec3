"""Bring one partition's send-date range up to date, walking only the days whose site total moved.

Each send date of a partition has a checkpoint (site total when last walked to convergence). A range is
checked with one page-0 request: when the site's total equals the sum of the checkpoints inside it, nothing was
published there since (rows are only ever added). Otherwise the range is cut where the
checkpoints say (the days after the newest checkpoint first, where new reports land; then halves) and only the
pieces that differ are walked. An unchanged partition costs one request; a tick that finds n new reports on
one day costs about ``ceil(day total / 20)`` plus a few checks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from crawler.discovery.paging import salvaged_page, search
from crawler.discovery.query import Query, SearchClient, Spend, WalkPolicy
from crawler.discovery.walk import Piece, WalkResult, walk
from crawler.exceptions import CircuitOpenError, ListingSchemaError, SourceError
from crawler.models import ListingPage, ReportRef
from crawler.sources.listing import MAX_PAGE_ROWS
from crawler.storage.backfill_jobs import BackfillJobs
from crawler.storage.checkpoints import DayCheckpoint, DayCheckpoints
from crawler.storage.partitions import PartitionKey, Partitions

log = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)


class DiscoveryStore(Protocol):
    """The part of :class:`crawler.storage.Store` discovery uses."""

    @property
    def partitions(self) -> Partitions: ...

    @property
    def checkpoints(self) -> DayCheckpoints: ...

    @property
    def jobs(self) -> BackfillJobs: ...

    def add_discovered(self, refs: list[ReportRef]) -> list[int]: ...


@dataclass
class SyncOutcome:
    """What syncing one or more ranges found and cost; accumulated across the partitions of a run."""

    new_ids: list[int] = field(default_factory=list)
    listed: int = 0
    requests: int = 0
    incomplete: list[Piece] = field(default_factory=list)

    def absorb(self, result: WalkResult, new_ids: list[int]) -> None:
        self.new_ids.extend(new_ids)
        self.listed += len(result.refs)
        self.requests += result.requests
        self.incomplete.extend(result.incomplete)


def key_query(key: PartitionKey, send_from: dt.date | None = None, send_to: dt.date | None = None) -> Query:
    return Query(key.report_type_code, key.report_year, key.fund_type, send_from, send_to)


def partition_label(key: PartitionKey) -> str:
    """How logs and run totals name a partition: ``FB010010/2024/6020-6010`` (``any`` for every year)."""
    return "/".join(part for part in (key.report_type_code, key.report_year or "any", key.fund_type) if part)


def first_page(client: SearchClient, query: Query, out: SyncOutcome,
               policy: WalkPolicy | None = None) -> ListingPage | None:
    """Page 0 of a query (its site total, and all its rows when it has one page); None when it failed.

    A failed request is recorded as an incomplete piece with no site total: "the site could not be read" is
    never mistaken for "the site lists nothing". Only an open circuit propagates. One malformed row does not
    spoil the check: the page is salvaged around it, or the other reports of the range would never be found.
    """
    probe = Spend()
    try:
        return salvaged_page(client, query, 0, probe, policy or WalkPolicy())
    except CircuitOpenError:
        raise
    except (SourceError, ListingSchemaError) as error:
        log.warning("range %s could not be checked: %s: %s", query, type(error).__name__, error)
        out.incomplete.append(Piece(query, None, frozenset(), complete=False, error=f"{type(error).__name__}: {error}"))
        return None
    finally:
        out.requests += probe.requests


def sync_range(client: SearchClient, store: DiscoveryStore, query: Query, known: Mapping[dt.date, int],
               out: SyncOutcome, *, first: ListingPage | None = None, policy: WalkPolicy | None = None,
               newest_first: bool = True) -> int | None:
    """Make the stored reports of ``query``'s range match the site; returns the range's site total.

    Returns None when the site could not be read (the failure is in ``out.incomplete``).

    ``known`` maps send dates to the count believed complete for them (checkpoints, or stored counts when
    reconciling); days missing from it count as unknown.
    """
    page = first if first is not None else first_page(client, query, out, policy)
    if page is None:
        return None
    inner = sorted(day for day in known if query.covers(day))
    expected = sum(known[day] for day in inner)
    if page.iTotalRecords == expected:
        return page.iTotalRecords
    if query.single_day and inner and page.iTotalRecords > expected:
        catch_up_day(client, store, query, page, expected, out, policy or WalkPolicy())
        return page.iTotalRecords
    if query.single_day or not inner or len(page.aaData) >= page.iTotalRecords:
        walk_and_store(client, store, query, out, first=page, policy=policy)
        return page.iTotalRecords
    log.debug("range %s: site total %d, checkpoints %d: narrowing", query, page.iTotalRecords, expected)
    older, newer = narrow(query, inner, newest_first)
    beyond_newest = query.send_to is None or query.send_to > inner[-1]
    sync_range(client, store, older, known, out, policy=policy, newest_first=newest_first and beyond_newest)
    sync_range(client, store, newer, known, out, policy=policy, newest_first=newest_first)
    return page.iTotalRecords


def narrow(query: Query, days: list[dt.date], newest_first: bool) -> tuple[Query, Query]:
    """Two ranges covering ``query``, cut at a known day: after the newest one, at the newest one, or halves.

    New reports land mostly on the newest send dates, so the first cuts isolate them (a check of everything
    older then costs one request); a change deeper in the past is found by halving.
    """
    newest = days[-1]
    if query.send_to is None or query.send_to > newest:
        pivot = newest + ONE_DAY
    elif newest_first or len(days) == 1:
        pivot = newest
    else:
        pivot = days[len(days) // 2]
    return query.window(query.send_from, pivot - ONE_DAY), query.window(pivot, query.send_to)


def catch_up_day(client: SearchClient, store: DiscoveryStore, query: Query, page: ListingPage, known: int,
                 out: SyncOutcome, policy: WalkPolicy) -> None:
    """Find the rows a completely walked day gained, reading its listing from both ends; else walk it all.

    The day held ``known`` ids, all stored. Rows are only ever added, so once ``total - known`` ids not yet
    stored have turned up, they are exactly the new ones and the rest of the day need not be listed. New
    rows tend to sit at one end of a day's listing, so pages are taken alternately from the front and the
    back. If the ids run out before that (rows moved, or someone else stored some), the day is walked fully.
    """
    seen: dict[int, ReportRef] = {}
    new_ids: list[int] = []
    spend = Spend()

    def take(listing: ListingPage) -> int:
        refs = [ReportRef.from_row(row, query.report_type_code) for row in listing.aaData]
        seen.update((ref.upload_info_id, ref) for ref in refs)
        new_ids.extend(store.add_discovered(refs) if refs else [])
        return listing.iTotalRecords

    total, front, back, from_front = take(page), len(page.aaData), page.iTotalRecords, True
    try:
        while len(new_ids) < total - known and front < back:
            start = front if from_front else max(front, back - MAX_PAGE_ROWS)
            listing = search(client, query, start, spend, policy)
            total = take(listing)
            front, back = (front + len(listing.aaData), back) if from_front else (front, start)
            from_front = not from_front
    except (SourceError, ListingSchemaError) as error:
        log.info("catching up %s stopped (%s): walking the whole day", query, error)
    out.requests += spend.requests
    if len(new_ids) < total - known:
        walk_and_store(client, store, query, out, policy=policy, seed=seen, already_new=new_ids)
        return
    out.new_ids.extend(new_ids)
    out.listed += len(seen)
    store.checkpoints.save(PartitionKey(query.report_type_code, query.report_year, query.fund_type),
                           {query.send_from: DayCheckpoint(total, total, True)} if query.send_from else {})
    log.info("caught up %s: %d new of %d, %d requests", query, len(new_ids), total, spend.requests)


def walk_and_store(client: SearchClient, store: DiscoveryStore, query: Query, out: SyncOutcome, *,
                   first: ListingPage | None = None, policy: WalkPolicy | None = None,
                   seed: dict[int, ReportRef] | None = None, already_new: list[int] | None = None) -> WalkResult:
    """Walk a range to convergence, inserting each page's reports as they arrive, then checkpoint its days.

    Rows are real reports whether or not the walk converges, so they are inserted at once: a crash mid-walk
    costs listing requests, never a report. Checkpoints are written last, only from what was inserted.
    """
    new_ids: list[int] = list(already_new or [])
    result = walk(client, query, first=first, policy=policy, seed=seed,
                  sink=lambda refs: new_ids.extend(store.add_discovered(refs)))
    out.absorb(result, new_ids)
    key = PartitionKey(query.report_type_code, query.report_year, query.fund_type)
    store.checkpoints.save(key, checkpoints_from_walk(result))
    log.info("walked %s: site total %s, %d listed, %d new, %d requests%s", query, result.site_total,
             len(result.refs), len(new_ids), result.requests, "" if result.complete else " (INCOMPLETE)")
    return result


def checkpoints_from_walk(result: WalkResult) -> dict[dt.date, DayCheckpoint]:
    """Per send date: rows seen, complete unless an unconverged piece covers that date."""
    counts = Counter(ref.send_date for ref in result.refs.values() if result.query.covers(ref.send_date))
    days: dict[dt.date, DayCheckpoint] = {}
    for day, seen in counts.items():
        open_pieces = [p for p in result.incomplete if p.query.covers(day)]
        site = max([seen, *(p.site_total or 0 for p in open_pieces if p.query.single_day)])
        days[day] = DayCheckpoint(site_total=site, seen=seen, complete=not open_pieces)
    return days
