"""Cross-checks: each one passes on a consistent document and names the item when the page disagrees."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from crawler.parsing.checks import run_checks
from tests.parsing.conftest import Parsed


def consistent() -> dict[str, Any]:
    return {
        "fund_code": "000001",
        "send_date": "2025-04-22",
        "share_classes": [{"name": "X A", "code": "000001"}, {"name": "X C", "code": "000002"}],
        "asset_allocation": [
            {"seq": 1, "category": "权益投资", "parent": None, "amount_yuan": 600.0, "pct_of_total_assets": 60.0},
            {"seq": None, "category": "其中：股票", "parent": "权益投资", "amount_yuan": 600.0, "pct_of_total_assets": 60.0},
            {"seq": 2, "category": "其他资产", "parent": None, "amount_yuan": 400.0, "pct_of_total_assets": 40.0},
        ],
        "total_assets": 1000.0,
        "top_stocks": [{"code": "600000", "name": "浦发银行", "fair_value_yuan": 300.0, "pct_of_nav": 33.33}],
        "total_net_assets": {"X A": 300.0, "X C": 600.0, "total": 900.0},
        "nav_per_unit": {"X A": 1.5, "X C": 1.2},
        "ending_shares": {"X A": 200.0, "X C": 500.0, "total": 700.0},
        "share_changes": {"X A": {"beginning": 150.0, "subscriptions": 100.0, "redemptions": 50.0, "split": 0.0, "ending": 200.0}},
        "holders": {"X A": {"institutional_shares": 20.0, "individual_shares": 180.0}},
        "balance_sheet": {"净资产合计": 900.0, "资产总计": 1000.0},
    }  # fmt: skip


def test_consistent_document_passes_every_check() -> None:
    results = run_checks(consistent(), {"fund_code": "000002", "send_date": date(2025, 4, 22)})
    assert results == {
        "asset_total": None,
        "asset_pct": None,
        "holding_pct": None,
        "nav_per_unit": None,
        "balance_sheet": None,
        "share_changes": None,
        "class_totals": None,
        "holder_totals": None,
        "sections_read": None,
        "listing_send_date": None,
        "listing_fund_code": None,
    }


@pytest.mark.parametrize(
    ("path", "value", "check", "message_part"),
    [
        (("asset_allocation", 2, "amount_yuan"), 400.02, "asset_total", "add up to 1000.02"),
        (("asset_allocation", 2, "pct_of_total_assets"), 40.02, "asset_pct", "其他资产"),
        (("top_stocks", 0, "pct_of_nav"), 33.35, "holding_pct", "浦发银行"),
        (("nav_per_unit", "X C"), 1.201, "nav_per_unit", "X C"),
        (("share_changes", "X A", "redemptions"), 50.01, "share_changes", "X A"),
        (("ending_shares", "total"), 700.05, "class_totals", "ending_shares"),
        (("holders", "X A", "individual_shares"), 179.0, "holder_totals", "X A"),
        (("balance_sheet", "净资产合计"), 901.0, "balance_sheet", "net assets 900.00"),
        (("balance_sheet", "资产总计"), 1000.01, "balance_sheet", "total assets 1000.00"),
    ],
)
def test_each_check_catches_a_wrong_number(
    path: tuple[Any, ...], value: float, check: str, message_part: str
) -> None:
    doc = copy.deepcopy(consistent())
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    results = run_checks(doc, None)
    assert results[check] is not None and message_part in results[check]
    assert [name for name, msg in results.items() if msg] == [check]


def test_listing_mismatch_is_flagged() -> None:
    results = run_checks(consistent(), {"fund_code": "999999", "send_date": "2025-04-23"})
    assert results["listing_fund_code"] == "page 000001, listing 999999"
    assert results["listing_send_date"] == "page 2025-04-22, listing 2025-04-23"


def test_checks_without_data_are_not_reported_as_passed() -> None:
    # Only "every printed section was read" applies to a page with no figures at all.
    assert run_checks({"fund_code": "000001"}, None) == {"sections_read": None}


def test_a_section_printed_but_not_read_flags_the_report() -> None:
    doc = {**consistent(), "unread_sections": {"期末基金份额持有人户数及持有人结构": "table printed but not read"}}
    results = run_checks(doc, None)
    assert results["sections_read"] == (
        "1 section(s) printed but not read: 期末基金份额持有人户数及持有人结构: table printed but not read"
    )
    assert [name for name, msg in results.items() if msg] == ["sections_read"]


def test_nav_tolerance_follows_printed_decimals() -> None:
    doc = {
        "nav_per_unit": {"total": 0.952},
        "total_net_assets": {"total": 98903019.12},
        "ending_shares": {"total": 103883361.83},
    }
    assert run_checks(doc, None)["nav_per_unit"] is None  # 0.95206… printed with 3 decimals
    doc["nav_per_unit"]["total"] = 0.9515
    assert run_checks(doc, None)["nav_per_unit"] is not None


def test_checks_on_a_real_multi_class_page(parsed: Parsed) -> None:
    doc = parsed("001643_2024_annual").document
    results = run_checks(doc, {"fund_code": "001643", "send_date": "2025-03-31"})
    assert set(results) >= {"asset_total", "holding_pct", "nav_per_unit", "share_changes", "class_totals"}
    assert all(message is None for message in results.values())


def test_reit_allocation_is_checked_against_its_own_base() -> None:
    doc = {
        "asset_allocation": [
            {
                "seq": 3,
                "category": "货币资金和结算备付金合计",
                "parent": None,
                "amount_yuan": 186.0,
                "pct_of_non_abs_portfolio": 100.0,
            }
        ],
        "reit_portfolio_total": 186.0,
        "total_assets": 5588.0,
    }
    assert run_checks(doc, None) == {"asset_total": None, "asset_pct": None, "sections_read": None}
    doc["asset_allocation"][0]["pct_of_non_abs_portfolio"] = 3.33  # a percentage of total assets would be wrong
    assert run_checks(doc, None)["asset_pct"] == "货币资金和结算备付金合计: 3.33% printed, 100.0000% computed"
