"""The README's analyst queries, read from README.md itself and checked against a crawled database.

Each ```sql block of the "Analyst data" section starts with a ``-- comment`` naming it; :data:`CHECKS` holds the
check of each, computed independently from an export of the same database (the documents for the numbers, the
reports table for the listing facts), so a README query that drifts from the schema or answers wrong fails here.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from crawler.storage import make_engine

README = Path(__file__).resolve().parents[2] / "README.md"
PERIODIC = ("q1", "q2", "q3", "q4", "interim", "annual")


def readme_queries() -> dict[str, str]:
    """``{first comment line: query}`` of every ```sql block in the README's "Analyst data" section."""
    readme = README.read_text(encoding="utf-8")
    section = readme.split("## Analyst data", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)
    return {block.splitlines()[0].removeprefix("--").strip(): block for block in blocks}


def exact(value: Any) -> Decimal | None:
    """A database or JSON number as the decimal it shows (floats by their shortest round-trip digits)."""
    if value is None:
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return exact(value)
    return value


@dataclass
class Crawled:
    """The crawled database's URL, its documents by id and its reports rows by id (from an export)."""

    url: str
    documents: dict[int, dict[str, Any]]
    reports: dict[int, dict[str, str]]

    @classmethod
    def load(cls, url: str, jsonl: Path, reports_csv: Path) -> Crawled:
        documents = {}
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            document = json.loads(line)
            documents[int(document["upload_info_id"])] = document
        with reports_csv.open(encoding="utf-8", newline="") as handle:
            # The views show current versions only: a corrected report's superseded version is not analyst data.
            reports = {int(row["upload_info_id"]): row for row in csv.DictReader(handle) if row["is_current"] == "True"}
        return cls(url, documents, reports)

    def run(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with make_engine(self.url).connect() as connection:
            return [tuple(plain(v) for v in row) for row in connection.execute(text(sql), params)]

    def latest(self) -> dict[str, int]:
        """Each fund's latest periodic report: latest period end, then send date, then id."""
        best: dict[str, tuple[str, str, int]] = {}
        for upload_info_id, row in self.reports.items():
            if row["report_kind"] not in PERIODIC or not row["period_end"]:
                continue
            key = (row["period_end"], row["send_date"], upload_info_id)
            if row["fund_code"] not in best or key > best[row["fund_code"]]:
                best[row["fund_code"]] = key
        return {fund: key[2] for fund, key in best.items()}

    def stocks(self, upload_info_id: int) -> list[dict[str, Any]]:
        return list(self.documents[upload_info_id].get("top_stocks") or [])


def _total(document: dict[str, Any]) -> Decimal | None:
    return exact((document.get("total_net_assets") or {}).get("total"))


def check_latest_reports(db: Crawled, sql: str) -> None:
    latest = db.latest()
    expected = sorted(
        ((fund, db.documents[i].get("fund_name"), db.reports[i]["report_kind"], db.reports[i]["period_end"],
          _total(db.documents[i])) for fund, i in latest.items()),
        key=lambda row: (row[4] is None, -(row[4] or 0), row[0]))
    assert db.run(sql) == expected


def _busiest_fund(db: Crawled) -> str:
    """The fund whose latest report lists the most stocks (more than ten when an annual report has them)."""
    return max(db.latest().items(), key=lambda item: (len(db.stocks(item[1])), item[0]))[0]


def check_top_holdings(db: Crawled, sql: str) -> None:
    fund = _busiest_fund(db)
    upload_info_id = db.latest()[fund]
    stocks = sorted(enumerate(db.stocks(upload_info_id)), key=lambda s: (-exact(s[1]["fair_value_yuan"]), s[0]))
    scope = "complete" if db.reports[upload_info_id]["report_kind"] in ("annual", "interim") else "top_n"
    expected = [(s["rank"], s["code"], s["name"], exact(s["pct_of_nav"]), exact(s["fair_value_yuan"]), scope)
                for _, s in stocks[:10]]
    assert expected and db.run(sql, fund_code=fund) == expected


def check_nav_history(db: Crawled, sql: str) -> None:
    fund = _busiest_fund(db)
    rows = db.run(sql, fund_code=fund)
    assert rows and len({(row[0], row[1], row[2]) for row in rows}) == len(rows)
    for class_code, class_name, period_end, nav_per_unit, _total_net_assets in rows:
        sources = [i for i, r in db.reports.items() if r["fund_code"] == fund and r["period_end"] == period_end]
        printed = {exact(value) for i in sources for name, value in
                   (db.documents[i].get("nav_per_unit") or {}).items()
                   if name == class_name or (name == "total" and class_code == fund)}
        assert nav_per_unit in printed, (class_code, period_end, nav_per_unit, printed)


def _held_code(db: Crawled) -> str:
    """The stock code held by the most funds in their latest reports."""
    holders: dict[str, int] = {}
    for upload_info_id in db.latest().values():
        for code in {s["code"] for s in db.stocks(upload_info_id) if s.get("code")}:
            holders[code] = holders.get(code, 0) + 1
    return max(holders.items(), key=lambda item: (item[1], item[0]))[0]


def check_security_holders(db: Crawled, sql: str) -> None:
    code = _held_code(db)
    expected = []
    for fund, upload_info_id in db.latest().items():
        kind = db.reports[upload_info_id]["report_kind"]
        for stock in db.stocks(upload_info_id):
            if stock.get("code") == code:
                expected.append((fund, db.documents[upload_info_id].get("fund_name"),
                                 db.reports[upload_info_id]["period_end"], exact(stock["pct_of_nav"]),
                                 exact(stock["fair_value_yuan"]),
                                 "complete" if kind in ("annual", "interim") else "top_n"))
    expected.sort(key=lambda row: (-(row[3] or 0), row[0]))
    assert expected and db.run(sql, code=code) == expected


def check_totals_by_kind(db: Crawled, sql: str) -> None:
    by_kind: dict[str, list[Decimal | None]] = {}
    for upload_info_id, row in db.reports.items():
        values = [exact(s["fair_value_yuan"]) for s in db.stocks(upload_info_id)]
        if values:
            by_kind.setdefault(row["report_kind"], []).extend(values)
    expected = []
    for kind, values in sorted(by_kind.items()):
        known = [v for v in values if v is not None]
        expected.append((kind, len(values), max(known), sum(known)))
    assert expected and db.run(sql) == expected


CHECKS: dict[str, Callable[[Crawled, str], None]] = {
    "The latest report of every fund, largest fund first": check_latest_reports,
    "The ten largest stock holdings of one fund in its latest report": check_top_holdings,
    "One fund's NAV history, per share class": check_nav_history,
    "Every fund holding one security in its latest report, heaviest weight first": check_security_holders,
    "Per report kind: stock holdings, the largest one, and their total value": check_totals_by_kind,
}
