"""REIT-specific sections: distributable and distributed amounts, the calculation, the asset projects.

REIT net assets and NAV come through the indicator tables (期末基金净资产, 其他财务指标); this module reads
what only infrastructure funds print.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict

from crawler.exceptions import ParseError
from crawler.models import DistributableItem, ReitFigures, ReitProject
from crawler.parsing.dom import Page, Section
from crawler.parsing.sections.tables import first_table, key_values
from crawler.parsing.values import clean_text, parse_number

DISTRIBUTABLE = re.compile(r"^本报告期及近三年的可供分配金额$")
DISTRIBUTED = re.compile(r"^本报告期及近三年的实际分配金额$")
CALCULATION = re.compile(r"^本期可供分配金额计算过程$")
PROJECT = re.compile(r"^资产项目名称[:：]\s*(?P<name>.+)$")
HEADINGS: tuple[re.Pattern[str], ...] = (DISTRIBUTABLE, DISTRIBUTED, CALCULATION, PROJECT)

_PROJECT_FIELDS: dict[str, Literal["company", "type", "operating_model", "location"]] = {
    "资产项目公司名称": "company",
    "资产项目类型": "type",
    "资产项目主要经营模式": "operating_model",
    "资产项目地理位置": "location",
}


class ReitPart(TypedDict, total=False):
    """The document key the REIT sections fill."""

    reit: ReitFigures


def parse_reit(page: Page) -> ReitPart:
    """``reit``: current-period distributable/distributed amounts, the calculation rows and projects."""
    reit: ReitFigures = {}
    distributable = _current_amount(page.find(DISTRIBUTABLE))
    if distributable is not None:
        reit["distributable_amount"], reit["distributable_amount_per_unit"] = distributable
    distributed = _current_amount(page.find(DISTRIBUTED))
    if distributed is not None:
        reit["actual_distribution"], reit["actual_distribution_per_unit"] = distributed
    calculation = page.find(CALCULATION)
    if calculation is not None and calculation.tables:
        reit["distributable_calc"] = _calculation(calculation)
    projects = [_project(s) for s in page.find_all(PROJECT) if s.tables]
    if projects:
        reit["projects"] = projects
    return {"reit": reit} if reit else {}


def _current_amount(section: Section | None) -> tuple[float | None, float | None] | None:
    """The ``本期`` row: amount and per-unit amount; None when the section or that row is not printed."""
    if section is None or not section.tables:
        return None
    for row in section.tables[0].data_rows():
        if clean_text(row[0].text) == "本期" and len(row) >= 3:
            try:
                return parse_number(row[1].text), parse_number(row[2].text)
            except ValueError as exc:
                raise ParseError(f"REIT amounts: {exc}", section=section.heading) from exc
    return None


def _calculation(section: Section) -> list[DistributableItem]:
    """Rows of the calculation; the group rows 调增项/调减项 have no amount (None)."""
    items: list[DistributableItem] = []
    for row in section.tables[0].data_rows():
        if len(row) < 2:
            continue
        try:
            items.append({"item": clean_text(row[0].text), "amount": parse_number(row[1].text)})
        except ValueError as exc:
            raise ParseError(f"REIT distributable calculation: {exc}", section=section.heading) from exc
    return items


def _project(section: Section) -> ReitProject:
    m = PROJECT.match(section.heading)
    item: ReitProject = {"name": clean_text(m["name"]) if m else section.heading}
    table = first_table(section)
    rows = key_values(table) if table is not None else {}
    for label, field in _PROJECT_FIELDS.items():
        values = rows.get(label)
        if values:
            item[field] = clean_text(values[0])
    return item
