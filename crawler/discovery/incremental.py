"""Scheduled discovery and reconciliation: which partitions and send-date ranges to sync, and the run's figures.

Discovery takes a schedule entry's partitions (report types x years [x fund types]) and syncs either the last
``sent_within_days`` send dates or the whole partition against the per-day checkpoints (:mod:`.sync`), so its
cost follows what the site published, not how many reports are already stored. Reconciliation compares each
partition's site total with the reports stored for it and scans only the days that fall short.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from crawler.discovery.sync import (
    DiscoveryStore,
    SyncOutcome,
    first_page,
    key_query,
    partition_label,
    sync_range,
)
from crawler.discovery.walk import Piece, SearchClient, WalkPolicy
from crawler.exceptions import CircuitOpenError
from crawler.models import SITE_TIMEZONE
from crawler.storage.partitions import PartitionKey
from crawler.storage.types import utcnow

log = logging.getLogger(__name__)


class PartitionSpecLike(Protocol):
    """A schedule entry's ``discover:`` block (:class:`crawler.schedules.DiscoverSpec` fits)."""

    @property
    def report_types(self) -> Sequence[str]: ...

    @property
    def fund_types(self) -> Sequence[str]: ...

    def resolve_years(self, today: dt.date) -> list[str]: ...


@dataclass(frozen=True)
class DiscoveryPlan:
    """Concrete partitions to discover and the send-date look-back (None = the whole partition)."""

    partitions: tuple[PartitionKey, ...]
    sent_within_days: int | None = None

    @classmethod
    def from_spec(cls, spec: PartitionSpecLike, today: dt.date) -> DiscoveryPlan:
        """Resolve ``current``/``previous`` years against ``today`` (a Beijing date)."""
        fund_types = list(spec.fund_types) or [""]
        keys = [PartitionKey(code, year, fund) for code in spec.report_types
                for year in spec.resolve_years(today) for fund in fund_types]
        return cls(tuple(dict.fromkeys(keys)), getattr(spec, "sent_within_days", None))


@dataclass
class DiscoveryResult:
    """New report ids (already inserted as pending rows, for the caller to enqueue) and what it cost."""

    new_ids: list[int]
    listed: int
    requests: int
    incomplete: list[Piece]
    totals: dict[str, int | None] = field(default_factory=dict)
    interrupted: str | None = None

    @property
    def complete(self) -> bool:
        return not self.incomplete and self.interrupted is None

    def summary(self) -> dict[str, Any]:
        """JSON-friendly figures for the task result, the run record and logs."""
        return {"new": len(self.new_ids), "listed": self.listed, "requests": self.requests,
                "partitions": len(self.totals), "complete": self.complete,
                "incomplete": [f"{p.query}: {p.error}" for p in self.incomplete], "interrupted": self.interrupted,
                "site_totals": dict(self.totals)}


def beijing_today() -> dt.date:
    return dt.datetime.now(SITE_TIMEZONE).date()


def discover(client: SearchClient, store: DiscoveryStore, plan: DiscoveryPlan | PartitionSpecLike,
             today: dt.date | None = None, *, policy: WalkPolicy | None = None) -> DiscoveryResult:
    """Find the reports published in the plan's partitions since the last run and insert them as pending.

    An open circuit breaker stops the run early (``interrupted``); what was found until then is returned so
    the caller can enqueue it. Pieces that could not be walked to convergence are in ``incomplete``.
    """
    today = today or beijing_today()
    if not isinstance(plan, DiscoveryPlan):
        plan = DiscoveryPlan.from_spec(plan, today)
    out, totals = SyncOutcome(), {}
    window = _window(plan.sent_within_days, today)
    try:
        for key in plan.partitions:
            totals[partition_label(key)] = _discover_partition(client, store, key, window, out, policy)
    except CircuitOpenError as error:
        return _result(out, totals, f"circuit open: {error}")
    return _result(out, totals)


def _window(days: int | None, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    return (None, None) if days is None else (today - dt.timedelta(days=days), today)


def _result(out: SyncOutcome, totals: dict[str, int | None], interrupted: str | None = None) -> DiscoveryResult:
    return DiscoveryResult(out.new_ids, out.listed, out.requests, out.incomplete, totals, interrupted)


def _discover_partition(client: SearchClient, store: DiscoveryStore, key: PartitionKey,
                        window: tuple[dt.date | None, dt.date | None], out: SyncOutcome,
                        policy: WalkPolicy | None) -> int | None:
    checkpoints = store.checkpoints.between(key, *window)
    known = {day: cp.site_total for day, cp in checkpoints.items() if cp.complete}
    before = len(out.incomplete)
    total = sync_range(client, store, key_query(key, *window), known, out, policy=policy)
    failures = out.incomplete[before:]
    values: dict[str, Any] = {"last_walked_at": utcnow(), "last_error": _errors(failures)}
    if window == (None, None) and total is not None:
        values.update(site_total=total, complete=not failures)
    store.partitions.record(key, **values)
    return total


def _errors(pieces: Iterable[Piece]) -> str | None:
    text = "; ".join(f"{p.query}: {p.error}" for p in pieces)
    return text[:2000] or None


def reconcile_partitions(client: SearchClient, store: DiscoveryStore,
                         partitions: Iterable[PartitionKey] | None = None, *,
                         policy: WalkPolicy | None = None) -> DiscoveryResult:
    """Compare each partition's site total with the reports stored for it; scan the days that fall short.

    One page-0 request per partition when nothing is missing. Fund types are not recorded on reports, so
    reconciliation works on whole (type x year) partitions. Defaults to every partition discovery knows.
    """
    keys = sorted({PartitionKey(k.report_type_code, k.report_year) for k in
                   (partitions if partitions is not None else store.partitions.known())})
    out, totals = SyncOutcome(), {}
    try:
        for key in keys:
            totals[partition_label(key)] = _reconcile_one(client, store, key, out, policy)
    except CircuitOpenError as error:
        return _result(out, totals, f"circuit open: {error}")
    return _result(out, totals)


def _reconcile_one(client: SearchClient, store: DiscoveryStore, key: PartitionKey, out: SyncOutcome,
                   policy: WalkPolicy | None) -> int | None:
    query = key_query(key)
    before = len(out.incomplete)
    page = first_page(client, query, out, policy)
    stored = store.partitions.stored_count(key)
    if page is not None and page.iTotalRecords > stored:
        log.warning("partition %s: site lists %d, %d stored: scanning the days that fall short", query,
                    page.iTotalRecords, stored)
        sync_range(client, store, query, store.partitions.stored_by_day(key), out, first=page, policy=policy)
        stored = store.partitions.stored_count(key)
    failures = out.incomplete[before:]
    values: dict[str, Any] = {"discovered": stored, "last_checked_at": utcnow(), "last_error": _errors(failures)}
    if page is not None:
        values.update(site_total=page.iTotalRecords, complete=stored >= page.iTotalRecords and not failures)
    store.partitions.record(key, **values)
    return page.iTotalRecords if page is not None else None
