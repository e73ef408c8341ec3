"""Portfolio cross-checks on every corpus page, heading coverage, and how unknown layouts fail.

The corpus checks prove completeness as well as mapping: an annual stock list that missed a row, or an
industry table read from the wrong column, would no longer add up to the asset-allocation line.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from crawler.exceptions import ParseError
from crawler.parsing.dom import Cell, Page, Section, Table, load_page
from crawler.parsing.sections.holdings import parse_holdings
from crawler.parsing.sections.portfolio import HEADINGS, parse_portfolio
from tests.constants import CORPUS_DIR

CORPUS = sorted(p.name for p in CORPUS_DIR.resolve().glob("*.html"))
#: Rows that print a real 0.00 amount with a "-" percentage (a genuine quirk of these pages).
ZERO_WITHOUT_PCT = {"001643_2024_annual.html": 3, "970006_2024_annual.html": 2}


@cache
def _page(path: Path) -> Page:
    return load_page(path.read_bytes())


@cache
def _parsed(path: Path) -> dict[str, Any]:
    return parse_portfolio(_page(path))


def _allocation(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], float, str]:
    if "reit_portfolio_total" in doc:
        return doc["asset_allocation"], doc["reit_portfolio_total"], "pct_of_non_abs_portfolio"
    return doc["asset_allocation"], doc["total_assets"], "pct_of_total_assets"


@pytest.mark.parametrize("name", [n for n in CORPUS if "profile" not in n])
def test_asset_items_add_up_to_total_and_percentages_match(corpus_dir: Path, name: str) -> None:
    rows, total, pct_key = _allocation(_parsed(corpus_dir / name))
    top = [r for r in rows if r["seq"] is not None]
    assert round(sum(r["amount_yuan"] for r in top), 2) == total
    assert abs(sum(r[pct_key] or 0 for r in top) - 100) <= 0.011
    for row in rows:
        if row[pct_key] is not None:
            assert abs(row["amount_yuan"] / total * 100 - row[pct_key]) <= 0.005 + 1e-9, row
    unpriced = [r for r in rows if r[pct_key] is None]
    assert all(r["amount_yuan"] == 0 for r in unpriced)
    assert len(unpriced) == ZERO_WITHOUT_PCT.get(name, 0)


def _asset(doc: dict[str, Any], *categories: str) -> float:
    return next((r["amount_yuan"] for r in doc["asset_allocation"] if r["category"] in categories), 0.0)


def _sum(rows: list[dict[str, Any]]) -> float:
    return round(sum(r["fair_value_yuan"] or 0 for r in rows), 2)


FULL_LISTS = [
    n for n in CORPUS if n.endswith(("_annual.html", "_interim.html")) and not n.startswith(("18", "508"))
]


@pytest.mark.parametrize("name", FULL_LISTS)
def test_full_holdings_lists_add_up_to_their_asset_line(corpus_dir: Path, name: str) -> None:
    doc = _parsed(corpus_dir / name)
    stocks = _asset(doc, "其中：股票", "其中：普通股")
    assert _sum(doc["top_stocks"]) == stocks
    assert _sum(doc["industry_allocation"]) == stocks
    bond_types = [r for r in doc["bond_types"] if not r["category"].startswith("其中")]
    assert _sum(bond_types) == _asset(doc, "其中：债券")
    assert _sum(doc.get("precious_metals", [])) == _asset(doc, "贵金属投资")


@pytest.mark.parametrize(
    "name", [n for n in CORPUS if "profile" not in n and not n.startswith(("18", "508"))]
)
def test_other_assets_add_up_to_the_other_assets_line(corpus_dir: Path, name: str) -> None:
    doc = _parsed(corpus_dir / name)
    assert round(sum(r["amount_yuan"] for r in doc["other_assets"]), 2) == _asset(
        doc, "其他资产", "其他各项资产"
    )


@pytest.mark.parametrize("name", [n for n in FULL_LISTS if not n.startswith(("007910", "202801"))])
def test_fund_lists_add_up_to_the_fund_line(corpus_dir: Path, name: str) -> None:
    """007910 prints a 基金投资 line but no fund table; 202801 (QDII) lists only its top ten funds."""
    doc = _parsed(corpus_dir / name)
    assert _sum(doc.get("top_funds", [])) == _asset(doc, "基金投资")


@pytest.mark.parametrize("name", CORPUS)
def test_every_ranked_portfolio_heading_is_registered(corpus_dir: Path, name: str) -> None:
    page = _page(corpus_dir / name)
    ranked = re.compile(r"按公允价值占基金资产净值比例大小|按行业分类|资产组合情况|按债券(品种|信用等级)分类")
    for section in page.sections:
        if ranked.search(section.heading):
            assert any(p.search(section.heading) for p in HEADINGS), section.heading


# --- layouts the corpus does not show -----------------------------------------------------------------


def _section(heading: str, rows: list[list[str]], classes: list[str]) -> Section:
    table = Table([[Cell(text) for text in row] for row in rows], classes)
    return Section(heading=heading, level=2, index=0, tables=[table])


MMF_BONDS = "报告期末按摊余成本占基金资产净值比例大小排名的前十名债券投资明细"


def test_money_market_bonds_read_amortised_cost_from_a_dd_header() -> None:
    section = _section(
        MMF_BONDS,
        [
            ["序号", "债券代码", "债券名称", "债券数量（张）", "摊余成本（元）", "占基金资产净值比例（％）"],
            ["1", "012480491", "24某某SCP001", "1,000,000", "100,123,456.7", "4.12 %"],
        ],
        ["dd", "dd"],
    )
    assert parse_portfolio(Page(banner=[], sections=[section]))["top_bonds"] == [
        {
            "rank": 1,
            "code": "012480491",
            "name": "24某某SCP001",
            "quantity": 1_000_000.0,
            "fair_value_yuan": None,
            "pct_of_nav": 4.12,
            "amortised_cost_yuan": 100_123_456.7,
        }
    ]


def test_money_market_bond_types_at_amortised_cost() -> None:
    section = _section(
        "报告期末按债券品种分类的债券投资组合",
        [
            ["序号", "债券品种", "摊余成本（元）", "占基金资产净值比例（％）"],
            ["1", "国家债券", "-", "-"],
            ["2", "同业存单", "2,000,000,000.00", "41.3"],
            ["3", "合计", "2,000,000,000.00", "41.3"],
        ],
        ["cc", "dd", "dd", "dd"],
    )
    assert parse_portfolio(Page(banner=[], sections=[section]))["bond_types"] == [
        {
            "seq": 2,
            "category": "同业存单",
            "fair_value_yuan": None,
            "amortised_cost_yuan": 2_000_000_000.0,
            "pct_of_nav": 41.3,
        }
    ]


def test_stock_connect_label_with_its_own_letter_code() -> None:
    """Some managers print Stock Connect industries as ``A 基础材料`` (004352, all ``-`` there)."""
    section = _section(
        "报告期末按行业分类的港股通投资股票投资组合",
        [
            ["行业类别", "公允价值（人民币）", "占基金资产净值比例（％）"],
            ["A 基础材料", "1,000.00", "0.10"],
            ["B 消费者非必需品", "-", "-"],
            ["合计", "1,000.00", "0.10"],
        ],
        ["cc", "dd", "dd", "dd"],
    )
    assert parse_portfolio(Page(banner=[], sections=[section]))["industry_allocation"] == [
        {
            "market": "hk_connect",
            "code": "A",
            "industry": "基础材料",
            "fair_value_yuan": 1000.0,
            "pct_of_nav": 0.1,
        }
    ]


def test_unknown_layout_is_reported_not_mis_mapped() -> None:
    broken = _section(
        "期末按公允价值占基金资产净值比例大小排序的所有股票投资明细", [["甲", "乙"], ["1", "2"]], ["cc", "dd"]
    )
    allocation = _section(
        "报告期末基金资产组合情况",
        [
            ["序号", "项目", "金额（元）", "占基金总资产的比例（％）"],
            ["1", "其他资产", "10.00", "100.00"],
            ["2", "合计", "10.00", "100.00"],
        ],
        ["cc", "dd", "dd"],
    )
    page = Page(banner=[], sections=[allocation, broken])
    with pytest.raises(ParseError) as excinfo:
        parse_portfolio(page)
    assert excinfo.value.section == broken.heading
    errors: dict[str, str] = {}
    doc = parse_portfolio(page, errors)
    assert list(errors) == [broken.heading]
    assert "top_stocks" not in doc and doc["total_assets"] == 10.0


def test_garbage_in_a_number_column_is_an_error() -> None:
    section = _section(
        "期末按公允价值占基金资产净值比例大小排名的前五名债券投资明细",
        [
            ["序号", "债券代码", "债券名称", "数量（张）", "公允价值（元）", "占基金资产净值比例（％）"],
            ["1", "019733", "24国债02", "1,000", "见附注", "1.00"],
        ],
        ["cc", "dd"],
    )
    with pytest.raises(ParseError) as excinfo:
        parse_holdings(section)
    assert excinfo.value.section == section.heading
