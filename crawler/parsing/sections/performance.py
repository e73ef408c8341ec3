"""NAV growth against the benchmark per horizon (基金份额净值增长率及其与同期业绩比较基准收益率的比较).

Class funds print the unsuffixed heading with a header-only table first, then one heading per class with
the class appended (``…比较A``, ``…比较德邦资管月月鑫30天滚动债A``). Money-market funds print 净值收益率.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, TypedDict

from crawler.exceptions import ParseError
from crawler.models import PerformanceRow
from crawler.parsing.dom import Page, Section
from crawler.parsing.sections.tables import suffix_class
from crawler.parsing.values import clean_text, parse_percent

SECTION = re.compile(r"^基金份额净值(?:增长率|收益率)及其与同期业绩比较基准收益率的比较(?P<cls>.*)$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)

_Figure = Literal["nav_growth", "nav_growth_std", "benchmark_return", "benchmark_std", "excess_return", "std_diff"]
_COLUMNS: tuple[tuple[_Figure, re.Pattern[str]], ...] = (
    ("nav_growth", re.compile(r"(?:增长率|收益率)①$")),
    ("nav_growth_std", re.compile(r"标准差②$")),
    ("benchmark_return", re.compile(r"收益率③$")),
    ("benchmark_std", re.compile(r"标准差④$")),
    ("excess_return", re.compile(r"^①-③$")),
    ("std_diff", re.compile(r"^②-④$")),
)


class PerformancePart(TypedDict, total=False):
    """The document key the NAV performance tables fill."""

    nav_performance: dict[str, list[PerformanceRow]]


def parse_performance(page: Page, class_names: Sequence[str]) -> PerformancePart:
    """``{"nav_performance": {key: [{horizon, nav_growth, …, std_diff}]}}``; header-only tables skipped."""
    out: dict[str, list[PerformanceRow]] = {}
    for section in page.find_all(SECTION):
        m = SECTION.match(section.heading)
        if m is None or not section.tables:
            continue
        rows = _rows(section)
        if rows:
            out.setdefault(suffix_class(m["cls"], class_names), rows)
    return {"nav_performance": out} if out else {}


def _rows(section: Section) -> list[PerformanceRow]:
    table = section.tables[0]
    grid = table.grid()
    if not grid:
        return []
    columns = {field: j for j, text in enumerate(grid[0]) for field, rx in _COLUMNS if rx.search(text)}
    if not columns and any(c != "cc" and clean_text(r[0]) for r, c in zip(grid, table.row_classes, strict=True)):
        # Rows of horizons with no column we know would read as "printed, no figures".
        raise ParseError("NAV performance: no known column", section=section.heading)
    rows: list[PerformanceRow] = []
    try:
        for row, cls in zip(grid, table.row_classes, strict=True):
            if cls == "cc" or not clean_text(row[0]):
                continue
            item: PerformanceRow = {"horizon": clean_text(row[0])}
            for field, j in columns.items():
                item[field] = parse_percent(row[j])
            rows.append(item)
    except ValueError as exc:
        raise ParseError(f"NAV performance: {exc}", section=section.heading) from exc
    return rows
