"""Portfolio sections of ordinary funds, on real pages: quarterly (2024-Q2 and 2025-Q1 templates), annual,
interim with index/active sleeves, brokerage plans, REITs and the profile.

Expected values were read off the pages by hand; the layout traps are named where they bite.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from crawler.parsing.dom import load_page
from crawler.parsing.sections.portfolio import parse_portfolio

Parsed = Callable[[str], dict[str, Any]]


@pytest.fixture(scope="module")
def portfolio(corpus_dir: Path) -> Parsed:
    @cache
    def parse(name: str) -> dict[str, Any]:
        return parse_portfolio(load_page((corpus_dir / f"{name}.html").read_bytes()))

    return parse


def by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["code"]: row for row in rows}


# --- quarterly, 2024-Q2 template (no wrapper headings), brokerage collective plan ---------------------


def test_quarterly_2024q2_asset_allocation_keeps_subrows_and_drops_dash_rows(portfolio: Parsed) -> None:
    doc = portfolio("900015_2024_q2")
    assert doc["total_assets"] == 115_375_827.95
    assert [
        (r["seq"], r["category"], r["amount_yuan"], r["pct_of_total_assets"]) for r in doc["asset_allocation"]
    ] == [
        (1, "权益类投资", 2_734_024.58, 2.37),
        (None, "其中：股票", 2_734_024.58, 2.37),
        (2, "固定收益投资", 92_589_979.22, 80.25),
        (None, "其中：债券", 92_589_979.22, 80.25),
        (6, "银行存款和结算备付金合计", 11_606_033.41, 10.06),
        (7, "其他资产", 8_445_790.74, 7.32),
    ]
    assert doc["asset_allocation"][1]["parent"] == "权益类投资"


def test_quarterly_top_ten_with_eleven_rows_and_a_shared_rank(portfolio: Parsed) -> None:
    stocks = portfolio("900015_2024_q2")["top_stocks"]
    assert len(stocks) == 11
    assert [(r["rank"], r["code"]) for r in stocks[2:4]] == [(3, "600026"), (3, "01138")]
    assert stocks[3] == {
        "rank": 3,
        "code": "01138",
        "name": "中远海能",
        "quantity": 4000.0,
        "fair_value_yuan": 37_915.49,
        "pct_of_nav": 0.04,
    }
    assert stocks[-1]["code"] == "601138" and stocks[-1]["pct_of_nav"] == 0.1


def test_quarterly_industry_has_domestic_and_hk_connect_without_totals(portfolio: Parsed) -> None:
    rows = portfolio("900015_2024_q2")["industry_allocation"]
    domestic = [r for r in rows if r["market"] == "domestic"]
    hk = [r for r in rows if r["market"] == "hk_connect"]
    assert [r["code"] for r in domestic] == ["A", "B", "C", "D", "F", "G", "I"]
    assert domestic[2] == {
        "market": "domestic",
        "code": "C",
        "industry": "制造业",
        "fair_value_yuan": 1_179_514.4,
        "pct_of_nav": 1.19,
    }
    assert [(r["code"], r["industry"], r["fair_value_yuan"]) for r in hk] == [
        (None, "医疗保健", 61_995.94),
        (None, "原材料", 87_160.75),
        (None, "日常消费品", 49_077.0),
        (None, "能源", 37_915.49),
    ]
    assert portfolio("900015_2024_q2")["industry_classification"] == {
        "hk_connect": "全球行业分类标准（GICS）"
    }


def test_brokerage_plan_bond_types_add_rows_and_bonds_keep_leading_zeros(portfolio: Parsed) -> None:
    doc = portfolio("900015_2024_q2")
    types = {r["category"]: r for r in doc["bond_types"]}
    assert types["公司债"] == {
        "seq": 9,
        "category": "公司债",
        "fair_value_yuan": 35_795_466.01,
        "pct_of_nav": 36.12,
    }
    assert "合计" not in types and "地方债" not in types
    assert [r["code"] for r in doc["top_bonds"]] == ["230023", "019733", "110059", "188924", "115888"]
    assert doc["top_bonds"][1]["quantity"] == 55_000.0
    assert doc["top_abs"] == [] and doc["precious_metals"] == [] and doc["top_warrants"] == []
    assert doc["futures"] == []


def test_quarterly_abs_holdings_and_continuation_subrow(portfolio: Parsed) -> None:
    doc = portfolio("970127_2024_q2")
    assert [r["code"] for r in doc["top_abs"]] == ["199070", "261770", "260080", "260891", "262511", "180460"]
    assert doc["top_abs"][4]["name"] == "24GTQR11"
    continuation = doc["asset_allocation"][2]
    assert continuation == {
        "seq": None,
        "category": "资产支持证券",
        "parent": "固定收益投资",
        "amount_yuan": 50_400_970.9,
        "pct_of_total_assets": 7.57,
    }
    assert doc["top_stocks"] == []


# --- quarterly, 2025-Q1 template (wrapper headings above level-3 tables) --------------------------------


def test_quarterly_2025q1_reads_the_table_under_the_wrapper_heading(portfolio: Parsed) -> None:
    doc = portfolio("013242_2025_q1")
    stocks = doc["top_stocks"]
    assert len(stocks) == 10
    assert stocks[0] == {
        "rank": 1,
        "code": "300100",
        "name": "双林股份",
        "quantity": 20_000.0,
        "fair_value_yuan": 1_206_000.0,
        "pct_of_nav": 2.51,
    }
    assert stocks[8]["quantity"] == 2_282.0 and stocks[-1]["code"] == "002273"
    assert [(r["code"], r["fair_value_yuan"]) for r in doc["industry_allocation"]] == [
        ("C", 38_374_535.24),
        ("I", 3_894_248.74),
        ("J", 1_592_976.6),
    ]
    assert doc["total_assets"] == 48_836_021.52


def test_printed_but_empty_sections_are_empty_lists(portfolio: Parsed) -> None:
    doc = portfolio("013242_2025_q1")
    assert doc["bond_types"] == []  # every row printed as "-"
    assert doc["top_bonds"] == []  # header-only table
    assert doc["top_abs"] == []  # only the note 本基金本报告期末未持有资产支持证券
    assert "top_funds" not in doc and "country_allocation" not in doc and "top_buys" not in doc


# --- ordinary annual: every holding, trades -------------------------------------------------------------


def test_annual_lists_all_stocks(portfolio: Parsed) -> None:
    stocks = portfolio("004352_2024_annual")["top_stocks"]
    assert len(stocks) == 22
    assert stocks[0] == {
        "rank": 1,
        "code": "002532",
        "name": "天山铝业",
        "quantity": 203_400.0,
        "fair_value_yuan": 1_600_758.0,
        "pct_of_nav": 9.23,
    }
    assert stocks[10] == {
        "rank": 11,
        "code": "002837",
        "name": "英维克",
        "quantity": 16_300.0,
        "fair_value_yuan": 658_520.0,
        "pct_of_nav": 3.8,
    }
    assert stocks[-1] == {
        "rank": 22,
        "code": "688733",
        "name": "壹石通",
        "quantity": 3_916.0,
        "fair_value_yuan": 74_012.4,
        "pct_of_nav": 0.43,
    }


def test_annual_with_79_stocks_counts_every_row(portfolio: Parsed) -> None:
    stocks = portfolio("001056_2024_annual")["top_stocks"]
    assert len(stocks) == 79
    assert [r["rank"] for r in stocks] == list(range(1, 80))


def test_annual_trades_keep_large_percentages_and_full_width_names(portfolio: Parsed) -> None:
    doc = portfolio("004352_2024_annual")
    buys, sells = doc["top_buys"], doc["top_sells"]
    assert (len(buys), len(sells)) == (205, 200)
    assert buys[0] == {
        "rank": 1,
        "code": "000933",
        "name": "神火股份",
        "amount_yuan": 15_223_234.0,
        "pct_of_beginning_nav": 1948.02,
    }
    assert buys[44]["name"] == "万 科Ａ" and buys[44]["code"] == "000002"
    assert sells[-1]["code"] == "000543" and sells[-1]["amount_yuan"] == 16_775.0


def test_annual_trade_totals_and_other_assets(portfolio: Parsed) -> None:
    doc = portfolio("004352_2024_annual")
    assert doc["trade_totals"] == {"buy_cost_yuan": 377_472_228.78, "sell_income_yuan": 360_964_796.51}
    assert doc["other_assets"] == [
        {"seq": 1, "name": "存出保证金", "amount_yuan": 44_432.71},
        {"seq": 2, "name": "应收清算款", "amount_yuan": 161_505.93},
        {"seq": 5, "name": "应收申购款", "amount_yuan": 1_291.41},
    ]


def test_convertible_bonds_in_conversion_period(portfolio: Parsed) -> None:
    convertibles = portfolio("970006_2024_annual")["convertible_bonds"]
    assert len(convertibles) == 24
    assert convertibles[0] == {
        "rank": 1,
        "code": "113042",
        "name": "上银转债",
        "quantity": None,
        "fair_value_yuan": 16_799_641.72,
        "pct_of_nav": 3.36,
    }
    assert convertibles[-1]["name"] == "科顺转债" and convertibles[-1]["pct_of_nav"] == 0.02
    assert [r["code"] for r in portfolio("900015_2024_q2")["convertible_bonds"]] == ["110059"]
    assert portfolio("004352_2024_annual")["convertible_bonds"] == []


def test_annual_hk_table_with_lettered_labels_all_dash_is_empty(portfolio: Parsed) -> None:
    rows = portfolio("004352_2024_annual")["industry_allocation"]
    assert {r["market"] for r in rows} == {"domestic"}
    assert [r["code"] for r in rows] == ["B", "C", "G", "I"]


# --- interim, index-enhanced fund with index/active sleeves --------------------------------------------


def test_interim_sleeved_industry_tables_are_both_kept(portfolio: Parsed) -> None:
    rows = portfolio("003016_2024_interim")["industry_allocation"]
    index = [r for r in rows if r.get("sleeve") == "index"]
    active = [r for r in rows if r.get("sleeve") == "active"]
    assert len(index) == 17 and len(active) == 12 and len(rows) == 29
    assert index[2] == {
        "market": "domestic",
        "code": "C",
        "industry": "制造业",
        "fair_value_yuan": 413_851_269.23,
        "pct_of_nav": 57.76,
        "sleeve": "index",
    }
    assert active[0]["code"] == "B" and active[0]["fair_value_yuan"] == 1_861_610.0


def test_interim_stock_tables(portfolio: Parsed) -> None:
    """The unsuffixed 所有股票投资明细 table holds the index holdings (its sum is the 指数投资 industry
    total 626,004,384.75) while the 指数投资 table is printed header-only; its rows carry no sleeve tag
    because the page does not say which sleeve they are."""
    stocks = portfolio("003016_2024_interim")["top_stocks"]
    plain = [r for r in stocks if "sleeve" not in r]
    active = [r for r in stocks if r.get("sleeve") == "active"]
    assert (len(plain), len(active), len(stocks)) == (315, 110, 425)
    assert plain[0]["code"] == "300502" and plain[0]["fair_value_yuan"] == 10_977_200.0
    assert plain[-1] == {
        "rank": 315,
        "code": "688385",
        "name": "复旦微电",
        "quantity": 125.0,
        "fair_value_yuan": 3_922.5,
        "pct_of_nav": 0.0,
    }
    assert round(sum(r["fair_value_yuan"] for r in plain), 2) == 626_004_384.75
    assert active[0] == {
        "rank": 1,
        "code": "002422",
        "name": "科伦药业",
        "quantity": 111_426.0,
        "fair_value_yuan": 3_379_550.58,
        "pct_of_nav": 0.47,
        "sleeve": "active",
    }


def test_interim_percent_printed_outside_its_paragraph(portfolio: Parsed) -> None:
    """003016 prints the bond-type percentage as a bare text node before an empty <p>."""
    assert portfolio("003016_2024_interim")["bond_types"] == [
        {"seq": 1, "category": "国家债券", "fair_value_yuan": 38_353_868.9, "pct_of_nav": 5.35}
    ]


# --- REIT and profile ----------------------------------------------------------------------------------


def test_reit_allocation_keeps_its_printed_basis_and_not_total_assets(portfolio: Parsed) -> None:
    doc = portfolio("508086_2024_annual")
    assert doc == {
        "asset_allocation": [
            {
                "seq": 3,
                "category": "货币资金和结算备付金合计",
                "parent": None,
                "amount_yuan": 186_130_386.26,
                "pct_of_non_abs_portfolio": 100.0,
            }
        ],
        "asset_allocation_basis": "占基础设施资产支持证券之外的投资组合的比例（%）",
        "reit_portfolio_total": 186_130_386.26,
    }


def test_reit_with_two_items(portfolio: Parsed) -> None:
    rows = portfolio("180303_2024_annual")["asset_allocation"]
    assert [(r["category"], r["amount_yuan"], r["pct_of_non_abs_portfolio"]) for r in rows] == [
        ("货币资金和结算备付金合计", 122_950.42, 6.3),
        ("其他资产", 1_829_433.01, 93.7),
    ]


def test_profile_has_no_portfolio(portfolio: Parsed) -> None:
    assert portfolio("159255_profile") == {}
