"""One pass over a query's pages: offsets advanced by the rows received, the total re-read on every page.

Transient failures are retried per page (backoff with full jitter, Retry-After honoured). A page the site
sends malformed (ListingSchemaError: one bad row spoils the whole page) is re-asked in smaller pages down to
single rows, so a bad row costs only itself, not its 19 neighbours nor the rest of the walk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from crawler.discovery.query import Query, SearchClient, Spend, WalkPolicy
from crawler.exceptions import CircuitOpenError, ListingSchemaError, RateLimitedError, SourceError
from crawler.models import ListingPage, ListingRow, ReportRef
from crawler.sources.backoff import full_jitter
from crawler.sources.listing import MAX_PAGE_ROWS

log = logging.getLogger(__name__)

Sink = Callable[[list[ReportRef]], None]


@dataclass
class PassResult:
    """What one pass saw: the last total, whether it held still, the ids, the last rejected row if any."""

    total: int
    stable: bool = True
    ids: set[int] = field(default_factory=set)
    error: str = ""


def search(client: SearchClient, query: Query, start: int, spend: Spend, policy: WalkPolicy,
           length: int = MAX_PAGE_ROWS) -> ListingPage:
    """One listing page, counted; transient failures retried. Open circuits and bad JSON raise at once."""
    for attempt in range(1, policy.page_attempts + 1):
        spend.requests += 1
        try:
            return client.search(query.report_type_code, query.report_year, start, fund_type=query.fund_type,
                                 send_from=query.send_from, send_to=query.send_to, length=length)
        except CircuitOpenError:
            raise
        except SourceError as error:
            if attempt == policy.page_attempts:
                raise
            delay = full_jitter(attempt, base=policy.retry_base, cap=policy.retry_cap)
            if isinstance(error, RateLimitedError) and error.retry_after:
                delay = min(policy.retry_cap, error.retry_after) + delay / 10
            log.info("search %s offset %d failed (%s), retry %d in %.1fs", query, start, error, attempt, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def one_pass(client: SearchClient, query: Query, first: ListingPage | None, seen: dict[int, ReportRef],
             spend: Spend, policy: WalkPolicy, sink: Sink | None = None) -> PassResult:
    """Page from offset 0 to the total; every row goes into ``seen`` (and to ``sink`` as it arrives).

    ``seen`` may start with rows known from an earlier pass or a wider query: once it holds as many ids as
    the site's total, the pass stops, so re-checking a piece whose total did not move costs one request.
    """
    done = PassResult(total=-1)
    page, consumed = (first, len(first.aaData)) if first is not None else _page(client, query, 0, spend, policy,
                                                                                 done)
    done.total = page.iTotalRecords
    start = 0
    while True:
        refs = [ReportRef.from_row(row, query.report_type_code) for row in page.aaData]
        if sink is not None and refs:
            sink(refs)
        for ref in refs:
            seen[ref.upload_info_id] = ref
            done.ids.add(ref.upload_info_id)
        start += consumed
        if start >= done.total or consumed == 0 or len(seen) == done.total:
            return done  # the end, or (rows are only ever added) every id of the total is already known
        page, consumed = _page(client, query, start, spend, policy, done)
        if page.iTotalRecords != done.total:
            log.info("walk %s: total moved from %d to %d at offset %d", query, done.total, page.iTotalRecords, start)
            done.total, done.stable = page.iTotalRecords, False


def salvaged_page(client: SearchClient, query: Query, start: int, spend: Spend, policy: WalkPolicy) -> ListingPage:
    """One page with its well-formed rows: a malformed row is skipped (by smaller pages), not the whole page.

    ListingSchemaError only when every row of the page is rejected.
    """
    return _page(client, query, start, spend, policy, PassResult(total=-1))[0]


def _page(client: SearchClient, query: Query, start: int, spend: Spend, policy: WalkPolicy,
          done: PassResult) -> tuple[ListingPage, int]:
    """A page and how many offsets it used (a salvaged page skips its bad rows but uses their offsets)."""
    try:
        page = search(client, query, start, spend, policy)
        return page, len(page.aaData)
    except ListingSchemaError as error:
        log.warning("walk %s: page at offset %d rejected (%s); asking for smaller pages", query, start, error)
    totals: list[int] = []
    half = MAX_PAGE_ROWS // 2
    rows = (_salvage(client, query, start, half, spend, policy, done, totals)
            + _salvage(client, query, start + half, half, spend, policy, done, totals))
    if not totals:
        raise ListingSchemaError(done.error or f"every row at offsets {start}..{start + MAX_PAGE_ROWS} rejected")
    total = totals[-1]
    return ListingPage(iTotalRecords=total, aaData=rows), min(MAX_PAGE_ROWS, max(total - start, 0))


def _salvage(client: SearchClient, query: Query, start: int, size: int, spend: Spend, policy: WalkPolicy,
             done: PassResult, totals: list[int]) -> list[ListingRow]:
    """The good rows of offsets [start, start + size), halving the page size around rejected rows."""
    if totals and start >= totals[-1]:
        return []
    try:
        page = search(client, query, start, spend, policy, length=size)
    except ListingSchemaError as error:
        if size == 1:
            done.error = f"row at offset {start} rejected: {error}"
            log.warning("walk %s: %s", query, done.error)
            return []
        half = (size + 1) // 2
        return (_salvage(client, query, start, half, spend, policy, done, totals)
                + _salvage(client, query, start + half, size - half, spend, policy, done, totals))
    totals.append(page.iTotalRecords)
    return list(page.aaData)
