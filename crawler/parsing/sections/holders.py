"""Holder structure at period end ((期末)基金份额持有人户数及持有人结构), per class and total.

Three header rows; an optional leading 份额级别 column and a 合计 row for class funds. ETFs with a feeder
fund add a column pair for the feeder (its name is the group header). REIT tables add a prior-year block
under a second header: only the first (current) block is read. Columns are located by their header path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from crawler.exceptions import ParseError
from crawler.parsing.dom import Page
from crawler.parsing.sections.tables import TOTAL, first_table
from crawler.parsing.values import parse_int, parse_number

SECTION = re.compile(r"^(?:期末)?基金份额持有人户数及持有人结构$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)

_GROUPS = (("机构投资者", "institutional"), ("个人投资者", "individual"))


def parse_holders(page: Page, class_names: Sequence[str]) -> dict[str, Any]:
    """``{"holders": {key: {holder_count, avg_shares, institutional_*, individual_*}}}`` or {}."""
    section = page.find(SECTION)
    table = first_table(section)
    if section is None or table is None:
        return {}
    grid = table.grid()
    headers = [row for row, cls in zip(grid, table.row_classes, strict=True) if cls == "cc"]
    columns, class_col = _columns(headers)
    if not columns and len(headers) < len(grid):
        # Data rows under headers we cannot map would read as holders with no figures.
        raise ParseError("holders: no known column", section=section.heading)
    holders: dict[str, dict[str, Any]] = {}
    seen_data = False
    try:
        for row, cls in zip(grid, table.row_classes, strict=True):
            if cls == "cc":
                if seen_data:
                    break
                continue
            seen_data = True
            key = _key(row[class_col] if class_col is not None else "")
            holders[key] = _values(row, columns)
    except ValueError as exc:
        raise ParseError(f"holders: {exc}", section=section.heading) from exc
    return {"holders": holders} if holders else {}


def _columns(headers: list[list[str]]) -> tuple[dict[int, str], int | None]:
    """Field per column from the header path (group + leaf); the 份额级别 column if printed."""
    fields: dict[int, str] = {}
    class_col = None
    width = max((len(r) for r in headers), default=0)
    for j in range(width):
        path = [row[j] for row in headers if j < len(row)]
        joined = "|".join(path)
        if "份额级别" in joined:
            class_col = j
        elif "持有人户数" in joined:
            fields[j] = "holder_count"
        elif "户均" in joined:
            fields[j] = "avg_shares"
        elif "持有份额" in joined or "比例" in joined:
            fields[j] = _group(path) + ("_pct" if "比例" in path[-1] else "_shares")
    return fields, class_col


def _group(path: list[str]) -> str:
    for text, name in _GROUPS:
        if text in path:
            return name
    return "feeder"


def _key(text: str) -> str:
    name = text.strip()
    return TOTAL if name in ("", "合计") else name


def _values(row: Sequence[str], columns: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {field: parse_number(row[j]) for j, field in columns.items() if j < len(row)}
    if "holder_count" in out:
        out["holder_count"] = parse_int(row[next(j for j, f in columns.items() if f == "holder_count")])
    return out
