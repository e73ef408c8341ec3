"""Typed records that travel between stages: listing rows, fetched pages, parsed reports, pipeline items."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

#: The site's zone: send dates are Beijing dates, and schedules read cron in it unless they name another zone.
SITE_TIMEZONE_NAME = "Asia/Shanghai"
SITE_TIMEZONE = ZoneInfo(SITE_TIMEZONE_NAME)

#: Report kinds by EID reportTypeCode (eid-source.md §5.1). Names are what schedules and the CLI accept.
REPORT_TYPES: dict[str, str] = {
    "annual": "FB010010",
    "interim": "FB020010",
    "q1": "FB030010",
    "q2": "FB030020",
    "q3": "FB030030",
    "q4": "FB030040",
    "profile": "FA010070",
    "profile_update": "FA010080",
}
REPORT_KINDS_BY_CODE: dict[str, str] = {code: name for name, code in REPORT_TYPES.items()}

#: Fund-type filter codes (eid-source.md §5.2).
FUND_TYPES: dict[str, str] = {
    "equity": "6020-6010",
    "money_market": "6020-6020",
    "bond": "6020-6030",
    "mixed": "6020-6040",
    "qdii": "6020-6050",
    "short_term_bond": "6020-6060",
    "reit": "6020-6084",
    "fof": "6020-6094",
    "commodity": "6020-6104",
}


class ListingRow(BaseModel):
    """One row of ``advanced_search_xbrl.do`` exactly as the site sends it (eid-source.md §2.2).

    Strict: a wrong type or a missing field is rejected, never stored half-filled.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    uploadInfoId: StrictInt = Field(gt=0, lt=10**12)
    fundId: StrictInt | None = None
    fundCode: StrictStr = Field(pattern=r"^[0-9A-Za-z]{6}$")
    fundShortName: StrictStr = Field(max_length=200)
    organName: StrictStr = Field("", max_length=200)
    reportYear: StrictStr = Field(pattern=r"^(\d{4})?$")
    reportDesp: StrictStr = Field("", max_length=200)
    uploadDate: dt.date | None = None
    reportSendDate: dt.date


class ListingPage(BaseModel):
    """One page of the search endpoint."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    iTotalRecords: StrictInt = Field(ge=0)
    iTotalDisplayRecords: StrictInt | None = None
    aaData: list[ListingRow]


@dataclass(frozen=True)
class ReportRef:
    """A report the site lists: a listing row plus the report type code we queried with."""

    upload_info_id: int
    report_type_code: str
    fund_code: str
    fund_short_name: str
    organ_name: str
    report_year: str
    report_desp: str
    send_date: dt.date
    upload_date: dt.date | None = None
    fund_id: int | None = None

    @classmethod
    def from_row(cls, row: ListingRow, report_type_code: str) -> ReportRef:
        return cls(
            upload_info_id=row.uploadInfoId,
            report_type_code=report_type_code,
            fund_code=row.fundCode,
            fund_short_name=row.fundShortName,
            organ_name=row.organName,
            report_year=row.reportYear,
            report_desp=row.reportDesp,
            send_date=row.reportSendDate,
            upload_date=row.uploadDate,
            fund_id=row.fundId,
        )


@dataclass(frozen=True)
class FetchedPage:
    """A report page as downloaded: the raw bytes and where they came from."""

    upload_info_id: int
    final_url: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    #: the page's validators as the site sent them (``ETag``, ``Last-Modified``), for conditional re-checks
    etag: str = ""
    last_modified: str = ""

    @property
    def sha256(self) -> str:
        """The page's address; computed on demand, since the archive hashes what it stores itself."""
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class ParsedReport:
    """What the parser makes of one page.

    ``document`` is the public ``fundcrawl.report/1`` JSON object. ``unknown_sections`` lists headings the
    parser does not know; ``section_errors`` maps a known section whose table could not be read to why.
    """

    document: dict[str, Any]
    parser_version: str
    unknown_sections: list[str] = field(default_factory=list)
    section_errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ReportItem:
    """The item the Scrapy pipelines receive: one parsed report with its provenance.

    ``checks`` is filled by the validate pipeline: check name -> ``None`` when it passed, or a message.
    """

    upload_info_id: int
    document: dict[str, Any]
    parser_version: str
    page_sha256: str
    final_url: str = ""
    archive_path: str = ""
    listing: dict[str, Any] = field(default_factory=dict)
    unknown_sections: list[str] = field(default_factory=list)
    section_errors: dict[str, str] = field(default_factory=dict)
    checks: dict[str, str | None] = field(default_factory=dict)
    #: validators of the fetched page (empty when the page was not just fetched, e.g. a re-parse)
    page_etag: str = ""
    page_last_modified: str = ""
    #: set by the store pipeline when saving this page changed its slot's current version
    correction: dict[str, Any] | None = None
