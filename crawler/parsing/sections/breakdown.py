"""Breakdown tables (category | value | % of NAV): industry, country and bond-type allocation.

Industry tables come in three markets: the CSRC A-share table (letters A–S under a column headed 代码 or
序号), the Stock Connect table (no code; the classification varies by manager, some prefix a letter:
``A 基础材料``) and the QDII GICS/BICS table (bilingual labels, no code). Index-enhanced funds print the
指数投资 and 积极投资 sleeves as separate tables; both are kept, tagged ``sleeve``. 合计 rows are
dropped, and so are rows printed as ``-`` throughout: an all-``-`` table is an empty section.
"""

from __future__ import annotations

import re
from typing import Any

from crawler.models import BondTypeRow, CountryRow, IndustryRow
from crawler.parsing.dom import Section
from crawler.parsing.sections.columns import col, has_values, read_records, sleeve_of, tables_with

_PREFIX = r"^(报告期末|期末)?(指数投资|积极投资)?按行业分类的"
DOMESTIC_INDUSTRY = re.compile(_PREFIX + r"(境内)?股票投资组合$")
HK_INDUSTRY = re.compile(_PREFIX + r"港股通投资股票投资组合$")
OVERSEAS_INDUSTRY = re.compile(_PREFIX + r"权益投资组合$")
COUNTRY_ALLOCATION = re.compile(r"^(报告期末|期末)?在各个国家[（(]地区[）)]证券市场的(权益|股票)投资分布$")
BOND_TYPES = re.compile(r"^(报告期末|期末)?按债券(品种|信用等级)分类的债券投资组合$")
HEADINGS: tuple[re.Pattern[str], ...] = (
    DOMESTIC_INDUSTRY,
    HK_INDUSTRY,
    OVERSEAS_INDUSTRY,
    COUNTRY_ALLOCATION,
    BOND_TYPES,
)

_VALUE = col("fair_value_yuan", r"^公允价值", "number")
_PCT = col("pct_of_nav", r"比例", "number")
_INDUSTRY_COLUMNS = (
    col("code", r"^(行业)?代码$|^序号$"),
    col("industry", r"^行业(类别|名称)?$"),
    _VALUE,
    _PCT,
)
_COUNTRY_COLUMNS = (col("country", r"国家|地区"), _VALUE, _PCT)
_BOND_TYPE_COLUMNS = (
    col("seq", r"^序号$", "int"),
    col("category", r"品种|信用等级|评级"),
    _VALUE,
    col("amortised_cost_yuan", r"^摊余成本", "number"),
    _PCT,
)
_AMOUNTS = ("fair_value_yuan", "amortised_cost_yuan", "pct_of_nav")
#: The classification named in a note: ``以上分类采用全球行业分类标准（GICS）``, ``…采用彭博行业分类标准``.
_CLASSIFICATION = re.compile(r"采用(\S+?分类标准(?:[（(][A-Za-z]+[)）])?)")
#: A Stock Connect label carrying its own letter code, e.g. ``A 基础材料``.
_LETTERED = re.compile(r"^([A-Z]) (\S.*)$")


def parse_industry_allocation(section: Section, market: str) -> list[IndustryRow]:
    """``[{market, code, industry, fair_value_yuan, pct_of_nav}]`` (+ ``sleeve`` on split tables)."""
    sleeve = sleeve_of(section.heading)
    rows: list[IndustryRow] = []
    for record in _records(section, _INDUSTRY_COLUMNS, ("industry", "fair_value_yuan", "pct_of_nav")):
        row: IndustryRow = {
            "market": market,
            "code": record.get("code"),
            "industry": record["industry"],
            "fair_value_yuan": record["fair_value_yuan"],
            "pct_of_nav": record["pct_of_nav"],
        }
        _split_letter(row)
        if sleeve is not None:
            row["sleeve"] = sleeve
        rows.append(row)
    return rows


def parse_industry_classification(section: Section) -> str | None:
    """The classification standard a Stock Connect or QDII industry table uses, as its note prints it
    (managers choose GICS, BICS, Hang Seng, ...); None when the note does not say."""
    for note in section.notes:
        m = _CLASSIFICATION.search(note)
        if m:
            return m[1]
    return None


def parse_country_allocation(section: Section) -> list[CountryRow]:
    """QDII ``[{country, fair_value_yuan, pct_of_nav}]`` by the market a holding is listed in."""
    return [
        {"country": r["country"], "fair_value_yuan": r["fair_value_yuan"], "pct_of_nav": r["pct_of_nav"]}
        for r in _records(section, _COUNTRY_COLUMNS, ("country", "fair_value_yuan", "pct_of_nav"))
    ]


def parse_bond_types(section: Section) -> list[BondTypeRow]:
    """``[{seq, category, fair_value_yuan, pct_of_nav}]``; QDII tables group by credit rating instead of
    bond type, and money-market tables value at amortised cost (``amortised_cost_yuan``, with
    ``fair_value_yuan`` None)."""
    return [_bond_type(r) for r in _records(section, _BOND_TYPE_COLUMNS, ("category", "pct_of_nav"))]


def _bond_type(record: dict[str, Any]) -> BondTypeRow:
    """The row's keys in printed order, ``amortised_cost_yuan`` only when the table prints that column."""
    seq, category, fair_value = record.get("seq"), record["category"], record.get("fair_value_yuan")
    if "amortised_cost_yuan" in record:
        return {
            "seq": seq,
            "category": category,
            "fair_value_yuan": fair_value,
            "amortised_cost_yuan": record["amortised_cost_yuan"],
            "pct_of_nav": record["pct_of_nav"],
        }
    return {"seq": seq, "category": category, "fair_value_yuan": fair_value, "pct_of_nav": record["pct_of_nav"]}


def _records(section: Section, columns: tuple[Any, ...], required: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for grid, layout in tables_with(section, columns, required):
        for record in read_records(section, grid, layout):
            if has_values(record, _AMOUNTS):
                rows.append(record)
    return rows


def _split_letter(row: IndustryRow) -> None:
    industry = row["industry"]
    if row["code"] is None and industry is not None:
        m = _LETTERED.match(industry)
        if m:
            row["code"], row["industry"] = m[1], m[2]
