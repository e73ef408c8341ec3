"""Report metadata from the banner: title, kind, year, period end, send date, manager, custodian.

The banner is the one block every page has: title (possibly split by ``<br/>``),
period end, ``基金管理人：``, ``基金托管人：`` and ``报告送出日期：``. The profile's banner differs: title,
``编制日期：``, ``送出日期：`` and a disclaimer.
"""

from __future__ import annotations

import re
from typing import NotRequired, TypedDict

from crawler.exceptions import ParseError
from crawler.parsing.dom import Page
from crawler.parsing.values import clean_text, parse_date

HEADINGS: tuple[re.Pattern[str], ...] = ()

_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\d{4})年第([1-4一二三四])季度报告$"), "q"),
    (re.compile(r"(\d{4})年(?:中期|半年度)报告(?:（摘要）)?$"), "interim"),
    (re.compile(r"(\d{4})年?(?:年度|度)?报告$"), "annual"),
    (re.compile(r"()(?:基金)?产品资料概要(?:（更新）|\(更新\)|更新)?$"), "profile"),
)
_QUARTERS = {"1": 1, "2": 2, "3": 3, "4": 4, "一": 1, "二": 2, "三": 3, "四": 4}
_PREFIXES = {
    "manager": ("基金管理人",),
    "custodian": ("基金托管人",),
    "send_date": ("报告送出日期", "送出日期"),
    "compile_date": ("编制日期",),
}


def report_kind(title: str) -> tuple[str, int | None, str]:
    """``(kind, year, fund_name)`` from a title: the fund name is the title minus its report suffix."""
    for rx, kind in _KINDS:
        m = rx.search(title)
        if m is None:
            continue
        year = int(m[1]) if m[1] else None
        name = title[: m.start()]
        if kind == "q":
            return f"q{_QUARTERS[m[2]]}", year, name
        return kind, year, name
    raise ParseError(f"unrecognised report title {title!r}", section="banner")


def _labelled(lines: list[str]) -> dict[str, str]:
    """``label：value`` banner lines by field name (full- or half-width colon)."""
    out: dict[str, str] = {}
    for line in lines:
        head, sep, value = line.partition("：") if "：" in line else line.partition(":")
        if not sep:
            continue
        for field, prefixes in _PREFIXES.items():
            if head.strip() in prefixes:
                out.setdefault(field, clean_text(value))
    return out


class MetadataPart(TypedDict):
    """The document keys the banner fills; ``fund_name`` is the title's, which a printed 基金名称 replaces."""

    report_title: str
    report_kind: str
    report_year: int | None
    fund_name: str
    period_end: str | None
    send_date: str | None
    manager: str | None
    custodian: str | None
    compile_date: NotRequired[str | None]


def parse_metadata(page: Page) -> MetadataPart:
    """Metadata fields from the banner; ``ParseError`` when the banner has no recognisable title."""
    if not page.banner:
        raise ParseError("page has no banner", section="banner")
    title = clean_text(page.banner[0])
    kind, year, name = report_kind(title)
    labelled = _labelled(page.banner[1:])
    period_end = None
    if kind != "profile" and len(page.banner) > 1:
        period_end = parse_date(page.banner[1])
    doc: MetadataPart = {
        "report_title": title,
        "report_kind": kind,
        "report_year": year,
        "fund_name": name,
        "period_end": period_end.isoformat() if period_end else None,
        "send_date": _iso(labelled.get("send_date")),
        "manager": labelled.get("manager"),
        "custodian": labelled.get("custodian"),
    }
    if "compile_date" in labelled:
        doc["compile_date"] = _iso(labelled["compile_date"])
    return doc


def _iso(text: str | None) -> str | None:
    value = parse_date(text) if text else None
    return value.isoformat() if value else None
