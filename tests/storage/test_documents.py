"""From a document to normalized rows (pure): exact numbers, tolerant shapes, what counts as a holding."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.storage.documents import normalized_rows, report_facts, storable
from crawler.storage.tables import asset_allocation, holdings, industry_allocation, nav_values, share_changes
from crawler.storage.types import to_decimal
from tests.storage.helpers import document


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_becomes_the_decimal_of_its_printed_digits(value: float) -> None:
    number = to_decimal(value)
    assert number == Decimal(repr(value)) and float(number) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (8.84, Decimal("8.84")),
        (0.1, Decimal("0.1")),
        (12, Decimal(12)),
        (" 3.50 ", Decimal("3.50")),
        (None, None),
        (True, None),
        (math.nan, None),
        (math.inf, None),
        ("1,234.5", None),
        ("-", None),
        ([], None),
    ],
)
def test_only_finite_numbers_become_decimals(value: object, expected: Decimal | None) -> None:
    assert to_decimal(value) == expected


def test_rows_of_a_full_document() -> None:
    rows = normalized_rows(storable(document()), 7, "1.2.3")

    assert all(
        row["upload_info_id"] == 7 and row["parser_version"] == "1.2.3"
        for table in rows.values()
        for row in table
    )
    assert [(r["kind"], r["position"], r["code"]) for r in rows[holdings]] == [
        ("stock", 0, "600519"),
        ("stock", 1, "0700"),
        ("precious_metal", 0, "Au99.99"),
    ]
    assert (
        rows[holdings][1]["extra"] == {"name_en": "Tencent", "exchange": "HKEX"}
        and rows[holdings][0]["extra"] is None
    )
    assert [(r["class_name"], r["class_code"], r["period_end"]) for r in rows[nav_values]] == [
        ("测试A", "000001", dt.date(2025, 3, 31)),
        ("测试C", "000002", dt.date(2025, 3, 31)),
    ]
    assert report_facts(storable(document()))["total_net_assets"] == Decimal("1234567890123.55")
    assert {r["list_scope"] for r in rows[holdings]} == {"top_n"}
    annual = normalized_rows(storable(document(report_kind="annual")), 7, "1.2.3")[holdings]
    assert [(r["kind"], r["list_scope"]) for r in annual] == [
        ("stock", "complete"), ("stock", "complete"), ("precious_metal", "top_n")]
    assert rows[share_changes][0]["split"] is None and rows[share_changes][0]["redemptions"] == Decimal(
        "21.07"
    )
    assert [(r["seq"], r["category"]) for r in rows[asset_allocation]] == [
        ("1", "权益投资"),
        (None, "其中：股票"),
    ]
    assert rows[industry_allocation][0]["market"] == "domestic"


def test_trading_activity_and_notes_are_not_holdings() -> None:
    doc = {
        "fund_code": "1",
        "top_buys": [{"code": "1"}],
        "top_sells": [{"code": "2"}],
        "futures": [{"code": "3"}],
        "convertible_bonds": [{"code": "4"}],
        "top_abs": [{"code": "5"}],
        "top_derivatives": [{"code": "6"}],
    }
    kinds = [row["kind"] for row in normalized_rows(doc, 1, "v")[holdings]]
    assert kinds == ["abs", "derivative"]


@pytest.mark.parametrize(
    "broken",
    [
        {"top_stocks": "none"},
        {"top_stocks": [None, 3, "x"]},
        {"total_net_assets": [1, 2]},
        {"share_changes": {"A": 5}},
        {"asset_allocation": {"seq": 1}},
        {"share_classes": None},
    ],
)
def test_a_section_of_an_unexpected_shape_gives_no_rows_instead_of_an_error(broken: dict[str, Any]) -> None:
    rows = normalized_rows({"fund_code": "000001", **broken}, 1, "v")
    assert all(table_rows == [] for table_rows in rows.values())


def test_an_empty_section_is_no_rows_and_an_absent_one_too() -> None:
    assert normalized_rows({"top_stocks": []}, 1, "v")[holdings] == []
    assert normalized_rows({}, 1, "v")[holdings] == []
