"""The replica's catalogue: every report the fake site lists, with where its page comes from.

A report's page is either a real corpus file (read from the corpus directory given at start, never copied) or
a page the generator writes on demand from the report's seed, so a catalogue of 14k reports holds metadata only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from crawler.models import REPORT_KINDS_BY_CODE

#: reportDesp as the site prints it, by report kind.
REPORT_DESP: dict[str, str] = {
    "annual": "年度报告",
    "interim": "中期报告",
    "q1": "第一季度报告",
    "q2": "第二季度报告",
    "q3": "第三季度报告",
    "q4": "第四季度报告",
    "profile": "基金产品资料概要",
    "profile_update": "基金产品资料概要更新",
}

#: Typical per-fund serial in a filing year: Q4 0001, annual 0002, Q1 0003, ...
KIND_SEQ: dict[str, int] = {"q4": 1, "annual": 2, "q1": 3, "q2": 4, "interim": 5, "q3": 6, "profile": 9}

@dataclass
class Report:
    """One listed report: the listing row's facts plus what the replica needs to serve its page."""

    upload_info_id: int
    fund_code: str
    fund_id: int
    fund_short_name: str
    organ_name: str
    organ_code: str
    report_type_code: str
    report_year: str
    report_desp: str
    upload_date: dt.date
    send_date: dt.date
    fund_type: str
    seq: int
    corpus_file: str | None = None
    page_seed: int = 0
    fault: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def report_kind(self) -> str:
        return REPORT_KINDS_BY_CODE.get(self.report_type_code, "other")

    @property
    def filing_year(self) -> int:
        """The folder year of the final URL: the year the report was sent, not reportYear."""
        return self.send_date.year

    @property
    def stem(self) -> str:
        return (
            f"CN_{self.organ_code}_{self.fund_code}_{self.report_type_code}_{self.filing_year}{self.seq:04d}"
        )

    @property
    def page_path(self) -> str:
        return f"/xbrl/REPORT/HTML/{self.filing_year}/{self.report_type_code}/{self.stem}/{self.stem}.html"

    def listing_row(self) -> dict[str, Any]:
        """The row exactly as ``advanced_search_xbrl.do`` sends it: ids are ints, no reportTypeCode."""
        return {
            "reportYear": self.report_year,
            "reportDesp": self.report_desp,
            "uploadDate": self.upload_date.isoformat(),
            "reportSendDate": self.send_date.isoformat(),
            "uploadInfoId": self.upload_info_id,
            "fundId": self.fund_id,
            "fundCode": self.fund_code,
            "fundShortName": self.fund_short_name,
            "fundSign": "9010-1020",
            "organName": self.organ_name,
            "classificationCode": "",
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["upload_date"] = self.upload_date.isoformat()
        data["send_date"] = self.send_date.isoformat()
        data.update(report_kind=self.report_kind, stem=self.stem, page_path=self.page_path)
        return data


def stable_int(*parts: object) -> int:
    """A deterministic 64-bit integer from ``parts`` (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Catalogue:
    """Thread-safe set of reports keyed by uploadInfoId, with the site's default order cached."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._by_id: dict[int, Report] = {}
        self._by_stem: dict[str, Report] = {}
        self._seqs: dict[tuple[str, int], set[int]] = {}
        self._ordered: list[Report] | None = None
        self._filtered: dict[tuple[tuple[str, str], ...], list[Report]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, report: Report) -> Report:
        """Add a report, bumping its serial when the fund already filed that serial in the filing year."""
        with self.lock:
            if report.upload_info_id in self._by_id:
                raise ValueError(f"duplicate uploadInfoId {report.upload_info_id}")
            used = self._seqs.setdefault((report.fund_code, report.filing_year), set())
            while report.seq in used:
                report.seq = max(max(used) + 1, 10)
            used.add(report.seq)
            self._by_id[report.upload_info_id] = report
            self._by_stem[report.stem] = report
            self._ordered = None
            self._filtered.clear()
            return report

    def get(self, upload_info_id: int) -> Report | None:
        return self._by_id.get(upload_info_id)

    def by_stem(self, stem: str) -> Report | None:
        return self._by_stem.get(stem)

    def has_id(self, upload_info_id: int) -> bool:
        return upload_info_id in self._by_id

    def fund_codes(self) -> set[str]:
        with self.lock:
            return {report.fund_code for report in self._by_id.values()}

    def all(self) -> list[Report]:
        """Reports in the site's default order: newest send date first, ids not monotonic within a day."""
        with self.lock:
            if self._ordered is None:
                self._ordered = sorted(
                    self._by_id.values(),
                    key=lambda r: (-r.send_date.toordinal(), stable_int("order", r.upload_info_id)),
                )
            return self._ordered

    def search(self, filters: dict[str, str]) -> list[Report]:
        """Reports matching ``filters`` in default order; cached until the catalogue changes (a walk repeats them)."""
        key = tuple(sorted((k, v) for k, v in filters.items() if v))
        with self.lock:
            found = self._filtered.get(key)
            if found is None:
                if len(self._filtered) > 256:
                    self._filtered.clear()
                found = self._filtered[key] = filter_reports(self.all(), filters)
            return list(found)

    def free_id(self, candidate: int) -> int:
        """The first unused id at or after ``candidate``."""
        with self.lock:
            while candidate in self._by_id:
                candidate += 1
            return candidate


def matches(report: Report, filters: dict[str, str]) -> bool:
    """The search endpoint's filters; empty values do not filter."""
    code = filters.get("reportTypeCode", "")
    if code and not (report.report_type_code == code or report.report_type_code.startswith(code)):
        return False
    year = filters.get("reportYear", "")
    if year and report.report_year != year:
        return False
    for key, value in (("fundCode", report.fund_code), ("fundType", report.fund_type)):
        if filters.get(key) and filters[key] != value:
            return False
    for key, value in (("fundCompanyShortName", report.organ_name), ("fundShortName", report.fund_short_name)):
        if filters.get(key) and filters[key] not in value:
            return False
    return _in_send_window(report.send_date, filters.get("startUploadDate", ""), filters.get("endUploadDate", ""))


def _in_send_window(send_date: dt.date, start: str, end: str) -> bool:
    """The 'upload' date filters really filter reportSendDate, inclusive, each on its own."""
    iso = send_date.isoformat()
    return (not start or iso >= start) and (not end or iso <= end)


def filter_reports(reports: Iterable[Report], filters: dict[str, str]) -> list[Report]:
    return [report for report in reports if matches(report, filters)]
