"""Main indicators, net assets, NAV per unit and ending shares per class, read off the pages by hand."""

from __future__ import annotations

from tests.parsing.conftest import Parsed

Q_A, Q_C = "德邦资管月月鑫30天滚动债A", "德邦资管月月鑫30天滚动债C"
HS_A, HS_C = "汇丰晋信智造先锋股票A", "汇丰晋信智造先锋股票C"


def test_quarterly_single_class_2025_template_with_numbered_labels(parsed: Parsed) -> None:
    doc = parsed("013242_2025_q1").document
    assert doc["indicators"] == {
        "total": {
            "realized_income": 6283075.79,
            "period_profit": 5823059.89,
            "weighted_avg_profit_per_unit": 0.1021,
            "net_assets_end": 47952349.96,
            "nav_per_unit_end": 0.8442,
        }
    }
    assert doc["total_net_assets"] == {"total": 47952349.96}
    assert doc["nav_per_unit"] == {"total": 0.8442}
    assert doc["ending_shares"] == {"total": 56801138.43}


def test_quarterly_multi_class_blank_fund_column_gives_no_total(parsed: Parsed) -> None:
    doc = parsed("970127_2025_q1").document
    assert doc["total_net_assets"] == {Q_A: 196517358.98, Q_C: 111639793.11}
    assert doc["nav_per_unit"] == {Q_A: 1.1459, Q_C: 1.1422}
    assert doc["ending_shares"] == {"total": 269229575.17, Q_A: 171489536.79, Q_C: 97740038.38}
    assert doc["indicators"][Q_C]["realized_income"] == 285738.8
    assert doc["indicators"][Q_A]["weighted_avg_profit_per_unit"] == 0.0032


def test_annual_single_class_reads_only_the_current_year(parsed: Parsed) -> None:
    ind = parsed("013242_2024_annual").document["indicators"]["total"]
    assert ind == {
        "realized_income": 2482989.82,
        "period_profit": 5770983.16,
        "weighted_avg_profit_per_unit": 0.0982,
        "weighted_avg_nav_return_pct": 15.55,
        "nav_growth_pct": 16.41,
        "distributable_profit_end": -19242318.1,
        "distributable_profit_per_unit": -0.3319,
        "net_assets_end": 43013702.15,
        "nav_per_unit_end": 0.742,
        "cumulative_nav_growth_pct": -25.8,
    }


def test_annual_multi_class_year_blocks_and_balance_sheet_total(parsed: Parsed) -> None:
    doc = parsed("001643_2024_annual").document
    assert doc["total_net_assets"] == {HS_A: 1009062843.34, HS_C: 625533168.09, "total": 1634596011.43}
    assert doc["nav_per_unit"] == {HS_A: 2.0122, HS_C: 1.9232}
    assert doc["indicators"][HS_A]["realized_income"] == -210867329.01
    assert doc["indicators"][HS_C]["period_profit"] == -128231368.19
    assert doc["indicators"][HS_C]["nav_growth_pct"] == -14.92
    assert doc["indicators"][HS_A]["cumulative_nav_growth_pct"] == 101.22
    assert "total" not in doc["indicators"]  # the fund-level column prints blanks and -%


def test_interim_report_period_columns(parsed: Parsed) -> None:
    doc = parsed("003016_2024_interim").document
    assert doc["total_net_assets"] == {
        "中金中证500A": 513786477.65,
        "中金中证500C": 202659316.72,
        "total": 716445794.37,
    }
    assert doc["nav_per_unit"] == {"中金中证500A": 1.4533, "中金中证500C": 1.4297}
    assert doc["indicators"]["中金中证500C"]["nav_growth_pct"] == -5.08
    assert doc["period_start"] == "2024-01-01"


def test_fof_multi_class(parsed: Parsed) -> None:
    doc = parsed("009573_2024_annual").document
    a, y = "南方养老目标日期2045三年持有混合发起（FOF）A", "南方养老目标日期2045三年持有混合发起（FOF）Y"
    assert doc["total_net_assets"] == {a: 166132694.29, y: 105353909.04, "total": 271486603.33}
    assert doc["nav_per_unit"] == {a: 1.0428, y: 1.0542}
    assert doc["ending_shares"] == {"total": 259250106.0, a: 159309556.74, y: 99940549.26}


def test_qdii_single_class(parsed: Parsed) -> None:
    doc = parsed("002379_2024_annual").document
    assert doc["total_net_assets"] == {"total": 117578925.0}
    assert doc["nav_per_unit"] == {"total": 1.243}
    assert doc["ending_shares"] == {"total": 94618933.24}


def test_gold_etf(parsed: Parsed) -> None:
    doc = parsed("518890_2024_annual").document
    assert doc["total_net_assets"] == {"total": 475929023.98}
    assert doc["nav_per_unit"] == {"total": 5.945}
    assert doc["indicators"]["total"]["nav_growth_pct"] == 26.94


def test_reit_net_assets_and_nav_from_other_indicators(parsed: Parsed) -> None:
    doc = parsed("180303_2024_annual").document
    assert doc["total_net_assets"] == {"total": 1222093438.31}  # 期末基金净资产, not 资产净值
    assert doc["nav_per_unit"] == {"total": 4.0736}
    ind = doc["indicators"]["total"]
    assert ind["revenue"] == 31514517.58
    assert ind["net_profit"] == 3493438.76
    assert ind["operating_cash_flow"] == 23717022.74
    assert (ind["cash_distribution_rate_pct"], ind["annualized_cash_distribution_rate_pct"]) == (1.44, 4.79)
    assert ind["total_assets_end"] == 1244450206.4
    assert ind["assets_to_net_assets_pct"] == 101.83
    assert ind["fair_value_reference_nav_per_unit"] == 4.0901


def test_profile_has_no_figures(parsed: Parsed) -> None:
    doc = parsed("159255_profile").document
    assert not {"total_net_assets", "nav_per_unit", "ending_shares", "indicators"} & set(doc)


def test_profit_distributions_past_three_years(parsed: Parsed) -> None:
    assert parsed("202801_2024_annual").document["distributions"] == {
        "total": [
            {
                "year": "2022年",
                "per_10_units": 0.66,
                "cash": 83728361.17,
                "reinvested": 44059367.75,
                "total": 127787728.92,
                "note": None,
            }
        ]
    }
    assert parsed("001643_2024_annual").document["distributions"] == {HS_A: [], HS_C: []}
