"""Holder structure at period end ((期末)基金份额持有人户数及持有人结构), per class and total.

Three header rows; an optional leading 份额级别 column and a 合计 row for class funds. ETFs with a feeder
fund add a column pair for the feeder (its name is the group header). REIT tables add a prior-year block
under a second header: only the first (current) block is read. Columns are located by their header path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, TypedDict

from crawler.exceptions import ParseError
from crawler.models import HolderStructure
from crawler.parsing.dom import Page
from crawler.parsing.sections.tables import TOTAL, first_table
from crawler.parsing.values import parse_int, parse_number

SECTION = re.compile(r"^(?:期末)?基金份额持有人户数及持有人结构$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)

_Field = Literal[
    "holder_count",
    "avg_shares",
    "institutional_shares",
    "institutional_pct",
    "individual_shares",
    "individual_pct",
    "feeder_shares",
    "feeder_pct",
]
_Group = tuple[
    Literal["institutional_shares", "individual_shares", "feeder_shares"],
    Literal["institutional_pct", "individual_pct", "feeder_pct"],
]
#: Header text of a holder group -> its (shares, pct) fields; a group not named is a feeder fund's.
_GROUPS: tuple[tuple[str, _Group], ...] = (
    ("机构投资者", ("institutional_shares", "institutional_pct")),
    ("个人投资者", ("individual_shares", "individual_pct")),
)
_FEEDER: _Group = ("feeder_shares", "feeder_pct")


class HoldersPart(TypedDict, total=False):
    """The document key the holder-structure table fills."""

    holders: dict[str, HolderStructure]


def parse_holders(page: Page, class_names: Sequence[str]) -> HoldersPart:
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
    holders: dict[str, HolderStructure] = {}
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


def _columns(headers: list[list[str]]) -> tuple[dict[int, _Field], int | None]:
    """Field per column from the header path (group + leaf); the 份额级别 column if printed."""
    fields: dict[int, _Field] = {}
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
            shares, pct = _group(path)
            fields[j] = pct if "比例" in path[-1] else shares
    return fields, class_col


def _group(path: list[str]) -> _Group:
    for text, group in _GROUPS:
        if text in path:
            return group
    return _FEEDER


def _key(text: str) -> str:
    name = text.strip()
    return TOTAL if name in ("", "合计") else name


def _values(row: Sequence[str], columns: dict[int, _Field]) -> HolderStructure:
    """The row's figures; the holder count is a whole number."""
    out: HolderStructure = {}
    for j, field in columns.items():
        if j >= len(row):
            continue
        if field == "holder_count":
            out[field] = parse_int(row[j])
        else:
            out[field] = parse_number(row[j])
    return out
