"""The fund product profile (产品资料概要): a 4-column key-value 产品概况 table, objectives and fees.

``label | value | label | value`` rows with a rowspan block for 基金经理.
Sale fees print as decimals (``0.0080``); management fees as text (``年费率0.50%``): both kept as printed.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict

from crawler.models import ProfileManager
from crawler.parsing.dom import Page, Table
from crawler.parsing.sections.tables import first_table
from crawler.parsing.values import clean_text, parse_date

OVERVIEW = re.compile(r"^产品概况$")
OBJECTIVES = re.compile(r"^投资目标与投资策略$")
SALE_FEES = re.compile(r"^基金销售相关费用$")
RUNNING_FEES = re.compile(r"^基金运作相关费用$")
HEADINGS: tuple[re.Pattern[str], ...] = (OVERVIEW, OBJECTIVES, SALE_FEES, RUNNING_FEES)

_Field = Literal[
    "short_name",
    "fund_code",
    "manager_printed",
    "custodian_printed",
    "fund_type",
    "listing_exchange",
    "operation_mode",
    "open_frequency",
    "currency",
    "other",
    "investment_objective",
    "investment_scope",
    "investment_strategy",
    "benchmark",
    "risk_return_profile",
]
_FIELDS: dict[str, _Field] = {
    "基金简称": "short_name",
    "基金代码": "fund_code",
    "基金管理人": "manager_printed",
    "基金托管人": "custodian_printed",
    "基金类型": "fund_type",
    "上市交易所": "listing_exchange",
    "运作方式": "operation_mode",
    "开放频率": "open_frequency",
    "交易币种": "currency",
    "其他": "other",
    "投资目标": "investment_objective",
    "投资范围": "investment_scope",
    "主要投资策略": "investment_strategy",
    "业绩比较基准": "benchmark",
    "风险收益特征": "risk_return_profile",
}
_DATES: dict[str, Literal["contract_effective_date", "listing_date"]] = {"基金合同生效日": "contract_effective_date", "上市日期": "listing_date"}


class ProfilePart(TypedDict, total=False):
    """The document keys a product profile fills, and the manager and custodian as the overview prints them
    (the assembler prefers the banner's)."""

    short_name: str
    fund_code: str
    manager_printed: str
    custodian_printed: str
    fund_type: str
    listing_exchange: str
    operation_mode: str
    open_frequency: str
    currency: str
    other: str
    investment_objective: str
    investment_scope: str
    investment_strategy: str
    benchmark: str
    risk_return_profile: str
    contract_effective_date: str | None
    listing_date: str | None
    profile_manager: ProfileManager | None
    fees: list[dict[str, str]]


def parse_profile(page: Page) -> ProfilePart:
    """Profile fields; {} on pages that are not profiles (no 产品概况 section)."""
    overview = first_table(page.find(OVERVIEW))
    if overview is None:
        return {}
    pairs = _pairs(overview)
    objectives = first_table(page.find(OBJECTIVES))
    if objectives is not None:
        pairs.update(_pairs(objectives))
    doc: ProfilePart = {}
    for label, field in _FIELDS.items():
        if pairs.get(label):
            doc[field] = pairs[label]
    for label, date_field in _DATES.items():
        try:
            value = parse_date(pairs.get(label, ""))
        except ValueError:
            value = None
        doc[date_field] = value.isoformat() if value else None
    doc["profile_manager"] = _manager(overview)
    doc["fees"] = _fees(page)
    return doc


def _pairs(table: Table) -> dict[str, str]:
    """``label | value`` pairs from rows of 2 or 4 cells (spanned manager rows handled by ``_manager``)."""
    out: dict[str, str] = {}
    for row in table.rows:
        texts = [clean_text(c.text) for c in row]
        for i in range(0, len(texts) - 1, 2):
            out.setdefault(texts[i], texts[i + 1])
    return out


def _manager(table: Table) -> ProfileManager | None:
    """基金经理 block: name (rowspan 2), start date and industry start date."""
    grid = table.grid()
    for r, row in enumerate(grid):
        if row and row[0] == "基金经理":
            nxt = grid[r + 1] if r + 1 < len(grid) else []
            start = _date(row[3]) if len(row) > 3 else None
            industry = _date(nxt[3]) if len(nxt) > 3 else None
            return {"name": row[1], "start_date": start, "industry_start_date": industry}
    return None


def _date(text: str) -> str | None:
    try:
        value = parse_date(text)
    except ValueError:
        return None
    return value.isoformat() if value else None


def _fees(page: Page) -> list[dict[str, str]]:
    """Fee rows as printed (rates stay text: ``0.0080`` and ``年费率0.50%`` mean different things)."""
    fees: list[dict[str, str]] = []
    for kind, pattern in (("sale", SALE_FEES), ("running", RUNNING_FEES)):
        table = first_table(page.find(pattern))
        if table is None:
            continue
        header = [clean_text(c.text) for c in table.rows[0]] if table.rows else []
        for row in table.data_rows():
            cells = [clean_text(c.text) for c in row]
            fees.append({"kind": kind, **dict(zip(header, cells, strict=False))})
    return fees
