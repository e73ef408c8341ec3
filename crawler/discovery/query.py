"""What one search asks the site: a partition and a send-date window, and the client that answers it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Protocol

from crawler.models import ListingPage
from crawler.sources.listing import MAX_PAGE_ROWS


class SearchClient(Protocol):
    """The part of :class:`crawler.sources.eid.EidClient` discovery uses."""

    def search(self, report_type_code: str, report_year: str, start: int, *, fund_type: str = "",
               fund_code: str = "", send_from: dt.date | None = None, send_to: dt.date | None = None,
               length: int = MAX_PAGE_ROWS) -> ListingPage: ...


@dataclass(frozen=True)
class Query:
    """One search: a partition (type x year x fund type) and an inclusive send-date window (None = open)."""

    report_type_code: str
    report_year: str
    fund_type: str = ""
    send_from: dt.date | None = None
    send_to: dt.date | None = None

    @property
    def single_day(self) -> bool:
        return self.send_from is not None and self.send_from == self.send_to

    def covers(self, day: dt.date) -> bool:
        return (self.send_from is None or day >= self.send_from) and (self.send_to is None or day <= self.send_to)

    def window(self, send_from: dt.date | None, send_to: dt.date | None) -> Query:
        return replace(self, send_from=send_from, send_to=send_to)

    def __str__(self) -> str:
        dates = f" {self.send_from or '…'}..{self.send_to or '…'}" if self.send_from or self.send_to else ""
        fund = f" {self.fund_type}" if self.fund_type else ""
        return f"{self.report_type_code}/{self.report_year or 'any'}{fund}{dates}"


@dataclass(frozen=True)
class WalkPolicy:
    """Bounds on effort: passes over a date range before it is split, minimum passes over a single day,
    and retries of one page on a transient error (exponential backoff with full jitter)."""

    passes_before_date_split: int = 1
    leaf_passes: int = 6
    page_attempts: int = 4
    retry_base: float = 0.5
    retry_cap: float = 30.0


@dataclass
class Spend:
    """Requests spent, shared by everything one walk or sync does."""

    requests: int = 0
