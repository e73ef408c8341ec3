"""Asset allocation: 报告期末/期末基金资产组合情况 and the REIT variant 报告期末基金的资产组合情况.

The ordinary table's 合计 row is the fund's total assets. Sub-rows have an empty 序号 and either a
``其中：`` prefix or none at all (``资产支持证券`` continues the ``其中：债券`` list, as do the QDII rows
``存托凭证``/``优先股``); they keep the category as printed and record the top-level row they belong to in
``parent``. The REIT table is a different thing: percentages of the portfolio held outside the
infrastructure ABS, so its 合计 is not total assets (report-format.md §7, §10 trap 11).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crawler.exceptions import ParseError
from crawler.parsing.dom import Section
from crawler.parsing.sections.columns import col, has_values, read_records, tables_with

ASSET_ALLOCATION = re.compile(r"^(报告期末|期末)基金资产组合情况$")
REIT_ASSET_ALLOCATION = re.compile(r"^(报告期末|期末)基金的资产组合情况$")
OTHER_ASSETS = re.compile(r"^(报告期末|期末)?其他(各项)?资产构成$")
HEADINGS: tuple[re.Pattern[str], ...] = (ASSET_ALLOCATION, REIT_ASSET_ALLOCATION, OTHER_ASSETS)

_TOTAL = re.compile(r"^(合计|总计)$")
_COLUMNS = (
    col("seq", r"^序号$", "int"),
    col("category", r"^项目$"),
    col("amount_yuan", r"^金额", "number"),
    col("pct", r"比例", "number"),
)
_OTHER_COLUMNS = (
    col("seq", r"^序号$", "int"),
    col("name", r"^名称$"),
    col("amount_yuan", r"^金额", "number"),
)


@dataclass(slots=True)
class Allocation:
    """The allocation rows and the 合计 amount (None when the table prints no total)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total_yuan: float | None = None


def parse_asset_allocation(section: Section) -> Allocation:
    """``[{seq, category, parent, amount_yuan, pct_of_total_assets}]`` plus the total assets."""
    return _parse(section, "pct_of_total_assets")


def parse_reit_asset_allocation(section: Section) -> Allocation:
    """The REIT rows with ``pct_of_portfolio`` (share of the non-ABS portfolio) and that portfolio's total."""
    return _parse(section, "pct_of_portfolio")


def _parse(section: Section, pct_key: str) -> Allocation:
    found = tables_with(section, _COLUMNS, ("category", "amount_yuan", "pct"))
    result = Allocation()
    for grid, layout in found[:1]:
        parent: str | None = None
        for record in read_records(section, grid, layout, totals=True):
            category = record["category"]
            if category is None:
                raise ParseError("allocation row without a category", section=section.heading)
            if _TOTAL.match(category):
                result.total_yuan = record["amount_yuan"]
                continue
            if record.get("seq") is not None:
                parent = category
            row = _row(record, pct_key, parent)
            if has_values(row, ("amount_yuan", pct_key)):
                result.rows.append(row)
    return result


def _row(record: dict[str, Any], pct_key: str, parent: str | None) -> dict[str, Any]:
    seq = record.get("seq")
    return {
        "seq": seq,
        "category": record["category"],
        "parent": None if seq is not None else parent,
        "amount_yuan": record["amount_yuan"],
        pct_key: record["pct"],
    }


def parse_other_assets(section: Section) -> list[dict[str, Any]]:
    """``[{seq, name, amount_yuan}]``: the breakdown of the 其他资产 line (receivables, deposits), 合计 and
    rows printed as ``-`` left out."""
    rows: list[dict[str, Any]] = []
    for grid, layout in tables_with(section, _OTHER_COLUMNS, ("name", "amount_yuan")):
        rows.extend(r for r in read_records(section, grid, layout) if r["amount_yuan"] is not None)
    return rows
