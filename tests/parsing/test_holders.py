"""Holder structure per class and total, read off the pages by hand."""

from __future__ import annotations

from tests.parsing.conftest import Parsed


def test_multi_class_holders_with_total_row(parsed: Parsed) -> None:
    holders = parsed("001643_2024_annual").document["holders"]
    assert holders["汇丰晋信智造先锋股票A"] == {
        "holder_count": 94564,
        "avg_shares": 5302.93,
        "institutional_shares": 31179.83,
        "institutional_pct": 0.01,
        "individual_shares": 501435028.52,
        "individual_pct": 99.99,
    }
    assert holders["total"]["holder_count"] == 187476
    assert holders["total"]["individual_shares"] == 801634361.93


def test_single_class_holders_have_no_label_column(parsed: Parsed) -> None:
    assert parsed("002379_2024_annual").document["holders"] == {
        "total": {
            "holder_count": 13768,
            "avg_shares": 6872.38,
            "institutional_shares": 179376.7,
            "institutional_pct": 0.19,
            "individual_shares": 94439556.54,
            "individual_pct": 99.81,
        }
    }


def test_etf_holders_with_feeder_fund_columns(parsed: Parsed) -> None:
    total = parsed("518890_2024_annual").document["holders"]["total"]
    assert (total["holder_count"], total["institutional_shares"], total["institutional_pct"]) == (
        282,
        79184393.0,
        98.9127,
    )
    assert (total["individual_shares"], total["feeder_shares"], total["feeder_pct"]) == (
        870452.0,
        73498838.0,
        91.8106,
    )


def test_reit_holders_current_block_only(parsed: Parsed) -> None:
    assert parsed("508086_2024_annual").document["holders"] == {
        "total": {
            "holder_count": 1641,
            "avg_shares": 609384.52,
            "institutional_shares": 992436605.0,
            "institutional_pct": 99.24,
            "individual_shares": 7563395.0,
            "individual_pct": 0.76,
        }
    }


def test_listed_fund_top_holders_keep_all_printed_rows(parsed: Parsed) -> None:
    holders = parsed("518890_2024_annual").document["listed_holders"]["total"]
    assert len(holders) == 11
    assert holders[0] == {
        "rank": 1,
        "name": "申万宏源证券有限公司（招赢通）",
        "shares": 4476312.0,
        "pct": 5.59,
    }
    assert holders[-1]["name"] == "招商银行股份有限公司－中银上海金交易型开放式证券投资基金联接基金"
    assert (holders[-1]["shares"], holders[-1]["pct"]) == (73498838.0, 91.81)


def test_unlisted_classes_print_empty_top_holder_tables(parsed: Parsed) -> None:
    listed = parsed("009477_2024_annual").document["listed_holders"]
    assert listed == {
        "中银上海金 ETF 联接基金A": [],
        "中银上海金 ETF 联接基金C": [],
        "中银上海金 ETF 联接基金E": [],
    }


def test_reit_tradable_and_non_tradable_holders_without_total_row(parsed: Parsed) -> None:
    top = parsed("508086_2024_annual").document["reit_top_holders"]
    assert [len(top["tradable"]), len(top["non_tradable"])] == [10, 10]
    assert top["non_tradable"][0] == {
        "rank": 1,
        "name": "河北高速公路集团有限公司",
        "shares": 510000000.0,
        "pct": 51.0,
    }
    assert top["tradable"][-1] == {
        "rank": 10,
        "name": "中国中金财富证券有限公司",
        "shares": 5999000.0,
        "pct": 0.6,
    }
