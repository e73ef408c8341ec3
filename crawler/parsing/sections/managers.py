"""Fund managers (基金经理（或基金经理小组）(及基金经理助理)简介).

Two header rows (任职日期/离任日期 under a spanning 任本基金的基金经理期限); ``-`` in 离任日期 means still in
office; experience prints as ``13``, ``11年`` or ``5年以上``. REIT tables have six columns (infrastructure
years and experience instead of securities years). Columns are located by their header text.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict

from crawler.exceptions import ParseError
from crawler.models import Manager
from crawler.parsing.dom import Page
from crawler.parsing.sections.tables import first_table
from crawler.parsing.values import clean_text, parse_date

SECTION = re.compile(r"^基金经理（或基金经理小组）(?:及基金经理助理)?简介$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)

_Column = Literal["name", "title", "start_date", "end_date", "years_text", "infra_experience", "bio"]
_COLUMNS: tuple[tuple[_Column, re.Pattern[str]], ...] = (
    ("name", re.compile(r"^姓名$")),
    ("title", re.compile(r"^职务$")),
    ("start_date", re.compile(r"^任职日期$")),
    ("end_date", re.compile(r"^离任日期$")),
    ("years_text", re.compile(r"从业年限$|管理年限$")),
    ("infra_experience", re.compile(r"管理经验$")),
    ("bio", re.compile(r"^说明$")),
)
_YEARS = re.compile(r"^(\d+(?:\.\d+)?)\s*年?")


class ManagersPart(TypedDict, total=False):
    """The document key the fund-manager table fills."""

    managers: list[Manager]


def parse_managers(page: Page) -> ManagersPart:
    """``{"managers": [{name, title, start_date, end_date, years_experience, years_text, bio}]}`` or {}."""
    section = page.find(SECTION)
    table = first_table(section)
    if section is None or table is None:
        return {}
    grid = table.grid()
    headers = [row for row, cls in zip(grid, table.row_classes, strict=True) if cls == "cc"]
    columns = _locate(headers)
    if "name" not in columns:
        raise ParseError("managers: no 姓名 column", section=section.heading)
    managers: list[Manager] = []
    try:
        for row, cls in zip(grid, table.row_classes, strict=True):
            if cls != "cc" and clean_text(row[columns["name"]]):
                managers.append(_manager(row, columns))
    except ValueError as exc:
        raise ParseError(f"managers: {exc}", section=section.heading) from exc
    return {"managers": managers}


def _locate(headers: list[list[str]]) -> dict[_Column, int]:
    """Column index per field, from the last header row that names it (spans already expanded)."""
    found: dict[_Column, int] = {}
    for row in headers:
        for j, text in enumerate(row):
            for field, rx in _COLUMNS:
                if rx.search(text):
                    found[field] = j
    return found


def _manager(row: list[str], columns: dict[_Column, int]) -> Manager:
    item: Manager = {}
    for field, j in columns.items():
        item[field] = clean_text(row[j]) or None
    item["start_date"] = _iso_date(item.get("start_date"))
    item["end_date"] = _iso_date(item.get("end_date"))
    m = _YEARS.match(item.get("years_text") or "")
    item["years_experience"] = float(m[1]) if m else None
    return item


def _iso_date(text: str | None) -> str | None:
    """The printed date as ISO text, None when the cell prints none."""
    value = parse_date(text or "")
    return value.isoformat() if value else None
