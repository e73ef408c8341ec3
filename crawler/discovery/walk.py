"""Walk one search query to a complete set of report ids despite the site's unstable paging.

The search endpoint caps pages at 20 rows, has no stable order (rows move across pages between calls) and its
total can grow while we page. So a query is done only when the distinct ids seen
equal the site's total. When one pass does not get there, the query is split into send-date windows (seeded with
the rows already seen in each window), then into fund types, and the smallest pieces are re-walked a bounded
number of times. A piece that still does not converge is returned as incomplete, never as done.

Convergence assumes the site only adds rows (corrections arrive as new ids): then a merged id set whose
size equals the current total is exactly the site's set.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from crawler.discovery.paging import Sink, one_pass
from crawler.discovery.query import Query, SearchClient, Spend, WalkPolicy
from crawler.exceptions import CircuitOpenError, ListingSchemaError, SourceError
from crawler.models import FUND_TYPES, ListingPage, ReportRef
from crawler.sources.listing import MAX_PAGE_ROWS

log = logging.getLogger(__name__)

__all__ = ["Piece", "Query", "SearchClient", "WalkPolicy", "WalkResult", "date_windows", "walk"]


@dataclass(frozen=True)
class Piece:
    """A query that was walked to its end: converged (``complete``) or given up on with ``error``.

    ``site_total`` is None when the site never answered (a failed request), 0 when it answered "no rows".
    """

    query: Query
    site_total: int | None
    ids: frozenset[int]
    complete: bool
    error: str = ""


@dataclass
class WalkResult(Spend):
    """Every report seen for a query, the pieces it was settled in, and the requests it cost."""

    query: Query = field(default_factory=lambda: Query("", ""))
    site_total: int | None = None
    refs: dict[int, ReportRef] = field(default_factory=dict)
    pieces: list[Piece] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(piece.complete for piece in self.pieces)

    @property
    def incomplete(self) -> list[Piece]:
        return [piece for piece in self.pieces if not piece.complete]


@dataclass
class _Walk:
    """One walk's collaborators and its accumulating result."""

    client: SearchClient
    policy: WalkPolicy
    result: WalkResult
    sink: Sink | None


def walk(client: SearchClient, query: Query, *, first: ListingPage | None = None,
         policy: WalkPolicy | None = None, sink: Sink | None = None,
         seed: dict[int, ReportRef] | None = None) -> WalkResult:
    """Walk ``query`` until its distinct ids equal the site's total, splitting it when paging is unstable.

    ``first`` is page 0 when the caller already asked for it (a cheap total check), so it is not fetched twice.
    ``sink`` receives each page's rows as they arrive, so a crash mid-walk loses only listing requests.
    ``seed`` holds rows of ``query`` already seen (they count towards convergence). Raises only :class:`CircuitOpenError` (crawling is paused); other failures become incomplete pieces.
    """
    ctx = _Walk(client, policy or WalkPolicy(), WalkResult(query=query), sink)
    _converge(ctx, query, dict(seed or {}), first)
    return ctx.result


def _converge(ctx: _Walk, query: Query, seed: dict[int, ReportRef], first: ListingPage | None) -> None:
    seen = dict(seed)
    total: int | None = None
    attempt, previous = 0, None
    while True:
        try:
            done = one_pass(ctx.client, query, first if attempt == 0 else None, seen, ctx.result, ctx.policy,
                            ctx.sink)
        except CircuitOpenError:
            raise
        except SourceError as error:
            _settle(ctx.result, query, total, seen, f"{type(error).__name__}: {error}")
            return
        except ListingSchemaError as error:
            _split(ctx, query, seen, total, f"listing rejected: {error}")
            return
        attempt, total = attempt + 1, done.total
        if query == ctx.result.query:
            ctx.result.site_total = total
        if len(seen) == total or (done.stable and len(done.ids) == total):
            _settle(ctx.result, query, total, seen)
            return
        log.info("walk %s pass %d saw %d of %d ids (total stable: %s)", query, attempt, len(seen), total,
                 done.stable)
        if attempt >= _pass_limit(query, ctx.policy, total) or done.ids == previous:
            break  # out of passes, or the site repeats itself: another pass cannot help
        previous = done.ids
    _split(ctx, query, seen, total, done.error)


def _pass_limit(query: Query, policy: WalkPolicy, total: int) -> int:
    """Passes before splitting: one for a date range (date windows converge better), more for a single day.

    When the order is fully shuffled each pass sees about 63% of the rows, so a day of n rows needs about
    ln(n) passes (coupon collector); passes stop early when one returns exactly the ids of the one before.
    """
    if not query.single_day:
        return policy.passes_before_date_split
    return max(policy.leaf_passes, math.ceil(2 * math.log(total + 1)) + 2)


def _settle(result: WalkResult, query: Query, total: int | None, seen: dict[int, ReportRef],
            error: str = "") -> None:
    result.refs.update(seen)
    result.pieces.append(Piece(query, total, frozenset(seen), complete=not error, error=error))
    if error:
        log.warning("walk %s incomplete: %s (%d ids seen, site total %s)", query, error, len(seen), total)


def _split(ctx: _Walk, query: Query, seen: dict[int, ReportRef], total: int | None, why: str = "") -> None:
    """Walk narrower queries whose union is ``query``: send-date windows first, then fund types."""
    ctx.result.refs.update(seen)
    windows = [] if query.single_day else date_windows(query, (ref.send_date for ref in seen.values()))
    if windows:
        for window in windows:
            _converge(ctx, window, {i: ref for i, ref in seen.items() if window.covers(ref.send_date)}, None)
        return
    if not query.fund_type:
        _split_by_fund_type(ctx, query, seen, total)
        return
    why = f"; {why}" if why else ""
    _settle(ctx.result, query, total, seen, f"did not converge: {len(seen)} distinct ids, site total {total}{why}")


def _split_by_fund_type(ctx: _Walk, query: Query, seen: dict[int, ReportRef], total: int | None) -> None:
    """Walk each fund type; the parent is complete when everything seen for it matches the types' totals.

    Rows do not say their fund type, so the children start unseeded; the union check at the end credits the
    rows the parent's own passes saw, and also shows when the fund types do not cover every row.
    """
    before = len(ctx.result.pieces)
    for code in FUND_TYPES.values():
        _converge(ctx, replace(query, fund_type=code), {}, None)
    children = ctx.result.pieces[before:]
    covered = sum(piece.site_total or 0 for piece in children)
    union = set(seen).union(*(piece.ids for piece in children))
    if total is not None and covered < total:
        _settle(ctx.result, query, total, seen, f"fund types cover only {covered} of {total} rows")
    elif all(piece.site_total is not None for piece in children) and len(union) == covered:
        del ctx.result.pieces[before:]
        _settle(ctx.result, query, covered, {i: ctx.result.refs[i] for i in union})


def date_windows(query: Query, dates: Iterable[dt.date]) -> list[Query]:
    """Contiguous send-date windows covering ``query``'s range, each holding about one page of known rows.

    Windows are built from the dates of rows already seen, so a busy day gets a window of its own and quiet
    days are grouped; gaps belong to the window before them, so nothing between windows is left out. Every
    window is strictly narrower than ``query``, so splitting always makes progress.
    """
    counts = sorted(Counter(day for day in dates if query.covers(day)).items())
    if not counts:
        return []
    starts: list[dt.date] = []
    in_group = 0
    for day, count in counts:
        if not starts or in_group + count > MAX_PAGE_ROWS:
            starts.append(day)
            in_group = 0
        in_group += count
    if len(starts) == 1:
        if len(counts) == 1:
            return _around(query, counts[0][0])
        starts = [day for day, _ in counts]
    bounds = [query.send_from, *starts[1:]]
    ends = [day - dt.timedelta(days=1) for day in starts[1:]] + [query.send_to]
    return [query.window(lo, hi) for lo, hi in zip(bounds, ends, strict=True)]


def _around(query: Query, day: dt.date) -> list[Query]:
    """Split a range whose known rows all fall on ``day``: the days before, the day, the days after."""
    one = dt.timedelta(days=1)
    windows = [query.window(query.send_from, day - one), query.window(day, day), query.window(day + one, query.send_to)]
    return [w for w in windows if w.send_from is None or w.send_to is None or w.send_from <= w.send_to]
