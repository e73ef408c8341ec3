"""Asset allocation: 报告期末/期末基金资产组合情况 and the REIT variant 报告期末基金的资产组合情况.

Both feed ``asset_allocation``. Sub-rows have an empty 序号 and either a ``其中：`` prefix or none at all
(``资产支持证券`` continues the ``其中：债券`` list, as do the QDII rows ``存托凭证``/``优先股``); they keep the
category as printed and record the top-level row they belong to in ``parent``.

What a row's percentage is a share of is read from the printed column header, never assumed from the
heading: ordinary funds print 占基金总资产的比例 (so the 合计 row is total assets), REITs print
占基础设施资产支持证券之外的投资组合的比例, a share of the portfolio held outside the infrastructure ABS, whose
合计 is that sub-portfolio and not the fund's total assets. The percentage key names the basis and
``asset_allocation_basis`` keeps the header as printed; a header naming a basis this module does not know is
a section error rather than a percentage filed under the wrong name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from crawler.exceptions import ParseError
from crawler.models import AllocationRow, OtherAsset
from crawler.parsing.dom import Section
from crawler.parsing.sections.columns import col, has_values, read_records, tables_with
from crawler.parsing.values import clean_text

#: The ordinary heading and the REIT one (基金的资产组合情况) feed the same key.
ASSET_ALLOCATION = re.compile(r"^(报告期末|期末)基金的?资产组合情况$")
OTHER_ASSETS = re.compile(r"^(报告期末|期末)?其他(各项)?资产构成$")
HEADINGS: tuple[re.Pattern[str], ...] = (ASSET_ALLOCATION, OTHER_ASSETS)

_TOTAL = re.compile(r"^(合计|总计)$")
#: The document keys an allocation table's 合计 can fill.
TotalKey = Literal["reit_portfolio_total", "total_assets"]


@dataclass(frozen=True, slots=True)
class Basis:
    """A printed percentage basis: the header words that announce it, the row key and the 合计's key."""

    header: re.Pattern[str]
    pct_key: Literal["pct_of_non_abs_portfolio", "pct_of_total_assets"]
    total_key: TotalKey


#: Known bases; the ABS-excluding one is tested first because its header also says 投资组合.
BASES: tuple[Basis, ...] = (
    Basis(re.compile(r"基础设施资产支持证券之外"), "pct_of_non_abs_portfolio", "reit_portfolio_total"),
    Basis(re.compile(r"基金总资产"), "pct_of_total_assets", "total_assets"),
)
PCT_KEYS = tuple(b.pct_key for b in BASES)
#: Row percentage key -> document key of the 合计 that percentage is a share of.
TOTAL_KEYS = {b.pct_key: b.total_key for b in BASES}
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
    """The allocation rows, the 合计 amount (None when the table prints no total) and the printed basis."""

    rows: list[AllocationRow] = field(default_factory=list)
    total_yuan: float | None = None
    basis_printed: str | None = None
    total_key: TotalKey = "total_assets"


def parse_asset_allocation(section: Section) -> Allocation:
    """``[{seq, category, parent, amount_yuan, pct_of_<basis>}]``, the 合计 and the printed basis."""
    found = tables_with(section, _COLUMNS, ("category", "amount_yuan", "pct"))
    result = Allocation()
    for grid, layout in found[:1]:
        column = next(i for i, c in layout.fields.items() if c.key == "pct")
        result.basis_printed = clean_text(grid[layout.header_row][column])
        basis = _basis(result.basis_printed, section)
        pct_key, result.total_key = basis.pct_key, basis.total_key
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


def _basis(printed: str, section: Section) -> Basis:
    compact = "".join(printed.split())
    for basis in BASES:
        if basis.header.search(compact):
            return basis
    raise ParseError(f"percentage basis not known: {printed}", section=section.heading)


def _row(
    record: dict[str, Any], pct_key: Literal["pct_of_non_abs_portfolio", "pct_of_total_assets"], parent: str | None
) -> AllocationRow:
    seq = record.get("seq")
    row: AllocationRow = {
        "seq": seq,
        "category": record["category"],
        "parent": None if seq is not None else parent,
        "amount_yuan": record["amount_yuan"],
    }
    row[pct_key] = record["pct"]
    return row


def parse_other_assets(section: Section) -> list[OtherAsset]:
    """``[{seq, name, amount_yuan}]``: the breakdown of the 其他资产 line (receivables, deposits), 合计 and
    rows printed as ``-`` left out."""
    rows: list[OtherAsset] = []
    for grid, layout in tables_with(section, _OTHER_COLUMNS, ("name", "amount_yuan")):
        for record in read_records(section, grid, layout):
            if record["amount_yuan"] is not None:
                rows.append({"seq": record.get("seq"), "name": record["name"], "amount_yuan": record["amount_yuan"]})
    return rows
