"""Share changes (开放式基金份额变动 / REIT 基金份额变动情况), per class and total."""

from __future__ import annotations

from tests.parsing.conftest import Parsed


def test_quarterly_single_class_2025_labels(parsed: Parsed) -> None:
    assert parsed("013242_2025_q1").document["share_changes"] == {
        "total": {
            "beginning": 57970511.14,
            "subscriptions": 397707.52,
            "redemptions": 1567080.23,
            "split": 0.0,
            "ending": 56801138.43,
        }
    }


def test_quarterly_multi_class_fund_column_holds_only_the_ending_total(parsed: Parsed) -> None:
    changes = parsed("970127_2025_q1").document["share_changes"]
    assert changes["total"] == {
        "beginning": None,
        "subscriptions": None,
        "redemptions": None,
        "split": None,
        "ending": 269229575.17,
    }
    assert changes["德邦资管月月鑫30天滚动债C"] == {
        "beginning": 128476825.29,
        "subscriptions": 16096730.11,
        "redemptions": 46833517.02,
        "split": 0.0,
        "ending": 97740038.38,
    }


def test_annual_three_classes_and_dash_as_none(parsed: Parsed) -> None:
    changes = parsed("970006_2024_annual").document["share_changes"]
    assert set(changes) == {"total", "华安证券汇赢增利A", "华安证券汇赢增利B", "华安证券汇赢增利C"}
    assert changes["华安证券汇赢增利A"]["subscriptions"] == 0.0
    assert changes["华安证券汇赢增利A"]["at_contract_effective"] == 59316054.18
    assert changes["华安证券汇赢增利B"]["at_contract_effective"] is None  # printed "-"
    assert changes["total"]["ending"] == 387433211.56


def test_single_class_annual_with_dash_subscriptions(parsed: Parsed) -> None:
    changes = parsed("002379_2024_annual").document["share_changes"]["total"]
    assert (changes["beginning"], changes["subscriptions"], changes["redemptions"]) == (
        117348928.17,
        None,
        22729994.93,
    )
    assert changes["ending"] == 94618933.24


def test_reit_share_change_table(parsed: Parsed) -> None:
    changes = parsed("180303_2024_annual").document["share_changes"]["total"]
    assert changes["at_contract_effective"] == 300000000.0
    assert changes["ending"] == 300000000.0
    assert changes["beginning"] is None


def test_single_investor_over_20pct(parsed: Parsed) -> None:
    assert parsed("013242_2024_annual").document["single_investors_over_20pct"] == [
        {
            "investor_type": "机构",
            "seq": 1,
            "period_start": "2024-01-01",
            "period_end": "2024-12-31",
            "beginning": 19999594.44,
            "subscriptions": 0.0,
            "redemptions": 0.0,
            "ending": 19999594.44,
            "pct": 34.5,
        }
    ]


def test_single_investor_table_of_dashes_is_an_empty_list(parsed: Parsed) -> None:
    assert parsed("970127_2025_q1").document["single_investors_over_20pct"] == []
    assert "single_investors_over_20pct" not in parsed("508086_2024_annual").document
