"""Portfolio sections of special fund kinds on real pages: FOF, QDII, gold ETF and its feeder, commodity
futures ETF and its feeder. Expected values were read off the pages by hand.
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


# --- FOF ----------------------------------------------------------------------------------------------


def test_fof_fund_table_lists_every_fund_with_mode_and_related_party(portfolio: Parsed) -> None:
    doc = portfolio("009573_2024_annual")
    funds = doc["top_funds"]
    assert len(funds) == 57
    assert funds[0] == {
        "rank": 1,
        "code": "510300",
        "name": "华泰柏瑞沪深300ETF",
        "quantity": 4_951_900.0,
        "fair_value_yuan": 19_916_541.8,
        "pct_of_nav": 7.34,
        "operation_mode": "契约型开放式",
        "related_party": False,
    }
    assert funds[1]["code"] == "014458" and funds[1]["related_party"] is True
    assert funds[14]["name"] == "南方亚洲美元收益债券（QDII）A（人民币）"
    assert funds[-1] == {
        "rank": 57,
        "code": "001570",
        "name": "南方利安灵活配置混合A",
        "quantity": 115_108.25,
        "fair_value_yuan": 175_724.25,
        "pct_of_nav": 0.06,
        "operation_mode": "契约型开放式",
        "related_party": True,
    }
    fund_row = next(r for r in doc["asset_allocation"] if r["category"] == "基金投资")
    assert fund_row["amount_yuan"] == round(sum(f["fair_value_yuan"] for f in funds), 2)


def test_fof_stock_table_mixes_a_share_and_hk_codes(portfolio: Parsed) -> None:
    stocks = portfolio("009573_2024_annual")["top_stocks"]
    assert len(stocks) == 29
    assert (stocks[1]["code"], stocks[1]["name"]) == ("00836", "华润电力")
    assert (stocks[15]["code"], stocks[15]["name"]) == ("03690", "美团-W")
    assert portfolio("009573_2024_annual")["industry_classification"] == {
        "hk_connect": "彭博行业分类标准（BICS）"
    }


# --- QDII ---------------------------------------------------------------------------------------------


def test_qdii_nine_column_equities_with_local_codes(portfolio: Parsed) -> None:
    doc = portfolio("001691_2024_annual")
    stocks = doc["top_stocks"]
    assert len(stocks) == 50
    assert stocks[0] == {
        "rank": 1,
        "code": "9992 HK",
        "name": "泡泡玛特国际集团有限公司",
        "quantity": 1_885_200.0,
        "fair_value_yuan": 156_508_335.01,
        "pct_of_nav": 9.04,
        "name_en": "Pop Mart International Group Limited",
        "exchange": "中国香港联合交易所",
        "country": "中国香港",
    }
    assert stocks[22]["code"] == "1415 HK" and stocks[22]["name_en"] == "Cowell e Holdings Inc."
    assert stocks[-1]["code"] == "600975 SH" and stocks[-1]["exchange"] == "上海证券交易所"


def test_qdii_country_and_overseas_industry(portfolio: Parsed) -> None:
    doc = portfolio("001691_2024_annual")
    assert doc["country_allocation"] == [
        {"country": "中国香港", "fair_value_yuan": 1_345_044_065.74, "pct_of_nav": 77.7},
        {"country": "美国", "fair_value_yuan": 181_029_538.65, "pct_of_nav": 10.46},
        {"country": "中国内地", "fair_value_yuan": 7_522_284.6, "pct_of_nav": 0.43},
    ]
    industry = doc["industry_allocation"]
    assert {r["market"] for r in industry} == {"overseas"} and len(industry) == 8
    assert industry[1] == {
        "market": "overseas",
        "code": None,
        "industry": "非必需消费品",
        "fair_value_yuan": 586_293_350.19,
        "pct_of_nav": 33.87,
    }
    assert doc["top_funds"] == [] and doc["bond_types"] == [] and doc["top_derivatives"] == []
    assert doc["industry_classification"] == {"overseas": "彭博行业分类标准"}
    assert doc["trade_totals"] == {"buy_cost_yuan": 5_365_184_216.03, "sell_income_yuan": 5_620_942_831.77}


def test_qdii_isin_codes_and_bilingual_gics(portfolio: Parsed) -> None:
    doc = portfolio("002379_2024_annual")
    assert doc["top_stocks"][0]["code"] == "KYG017191142"
    assert doc["top_stocks"][27]["code"] == "KYG7170M1033"
    assert doc["industry_allocation"][0]["industry"] == "通信服务 Communication Services"
    assert doc["industry_classification"] == {"overseas": "全球行业分类标准（GICS）"}
    categories = [r["category"] for r in doc["asset_allocation"]]
    assert categories == ["权益投资", "其中：普通股", "银行存款和结算备付金合计"]


def test_qdii_index_fund_sleeve_derivatives_and_futures(portfolio: Parsed) -> None:
    doc = portfolio("020988_2024_annual")
    stocks = doc["top_stocks"]
    assert len(stocks) == 30 and {r["sleeve"] for r in stocks} == {"index"}
    assert stocks[1]["code"] == "700 HK" and stocks[1]["name"] == "腾讯控股有限公司"
    assert doc["top_derivatives"] == [
        {
            "rank": 1,
            "code": None,
            "name": "HTI2503",
            "quantity": None,
            "fair_value_yuan": -11_478.73,
            "pct_of_nav": -0.01,
            "category": "期货",
        }
    ]
    assert doc["futures"][0]["code"] == "HTI2503" and doc["futures"][0]["position"] == 7.0
    assert doc["top_buys"][0] == {
        "rank": 1,
        "code": "9988 HK",
        "name": None,
        "amount_yuan": 19_996_881.17,
        "pct_of_beginning_nav": 14.18,
        "name_en": "Alibaba Group Holding Limited",
    }


def test_qdii_fund_table_without_code(portfolio: Parsed) -> None:
    funds = portfolio("202801_2024_annual")["top_funds"]
    assert len(funds) == 10
    assert funds[0] == {
        "rank": 1,
        "code": None,
        "name": "Invesco Nasdaq 100 ETF",
        "quantity": None,
        "fair_value_yuan": 149_738_336.04,
        "pct_of_nav": 10.29,
        "fund_type": "ETF",
        "operation_mode": "交易型开放式",
        "manager": "Invesco Capital Management LLC",
    }
    assert funds[3]["name"] == "SPDR S&P 500 ETF Trust"
    assert funds[7]["fund_type"] == "股票型基金"


# --- gold ETF and feeder ------------------------------------------------------------------------------


def test_gold_etf_precious_metals(portfolio: Parsed) -> None:
    doc = portfolio("518890_2024_annual")
    assert doc["precious_metals"] == [
        {
            "rank": 1,
            "code": "Au9999",
            "name": "Au9999",
            "quantity": 730_280.0,
            "fair_value_yuan": 450_042_352.8,
            "pct_of_nav": 94.56,
        }
    ]
    assert doc["top_stocks"] == [] and doc["industry_allocation"] == []
    assert doc["total_assets"] == 479_735_330.02


def test_gold_feeder_lists_its_target_etf(portfolio: Parsed) -> None:
    doc = portfolio("009477_2024_annual")
    assert doc["top_funds"] == [
        {
            "rank": 1,
            "code": "518890",
            "name": "中银上海金ETF",
            "quantity": 73_498_838.0,
            "fair_value_yuan": 436_950_591.91,
            "pct_of_nav": 94.15,
            "operation_mode": "交易型开放式",
            "related_party": True,
        }
    ]
    assert doc["precious_metals"][0]["quantity"] == 2_000.0
    assert doc["precious_metals"][0]["fair_value_yuan"] == 1_232_520.0


# --- commodity futures ETF and feeder -----------------------------------------------------------------


def test_futures_etf_contracts_without_summary_rows(portfolio: Parsed) -> None:
    doc = portfolio("159980_2024_annual")
    futures = doc["futures"]  # the page's commented-out 股指期货持仓和损益明细 tables add nothing
    assert [r["code"] for r in futures] == ["AL2503", "CU2503", "NI2503", "PB2503", "SN2503", "ZN2503"]
    assert futures[1] == {
        "code": "CU2503",
        "name": "CU2503",
        "position": 965.0,
        "contract_value_yuan": 356_519_250.0,
        "fair_value_change_yuan": -5_568_612.53,
    }
    assert doc["bond_types"] == []  # heading with an empty note and no table
    assert doc["top_funds"] == [] and doc["top_stocks"] == []
    assert [r["category"] for r in doc["asset_allocation"]] == ["银行存款和结算备付金合计", "其他各项资产"]


def test_futures_feeder_has_a_fund_row_but_no_fund_table(portfolio: Parsed) -> None:
    doc = portfolio("007910_2024_annual")
    assert "top_funds" not in doc
    assert doc["asset_allocation"][0] == {
        "seq": 2,
        "category": "基金投资",
        "parent": None,
        "amount_yuan": 83_749_792.18,
        "pct_of_total_assets": 87.24,
    }
    assert doc["futures"] == []
