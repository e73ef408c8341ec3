"""From a document to normalized rows (pure): exact numbers, tolerant shapes, what counts as a holding."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.storage.documents import (
    HOLDING_KINDS,
    DocumentError,
    normalized_rows,
    report_facts,
    require_document,
    storable,
    storable_json,
)
from crawler.storage.tables import asset_allocation, holdings, industry_allocation, nav_values, share_changes
from crawler.storage.types import to_decimal
from tests.storage.helpers import BAD_VALUES, document, holding


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
    doc = document(
        top_stocks=[],
        precious_metals=[],
        top_buys=[{"rank": 1, "code": "1", "name": None, "amount_yuan": 1.0, "pct_of_beginning_nav": 0.1}],
        futures=[{"code": "3", "name": None, "position": 1.0, "contract_value_yuan": None,
                  "fair_value_change_yuan": None}],
        convertible_bonds=[holding(code="4")],
        top_abs=[holding(code="5")],
        top_derivatives=[holding(code="6")],
    )
    kinds = [row["kind"] for row in normalized_rows(doc, 1, "v")[holdings]]
    assert kinds == ["abs", "derivative"]


@pytest.mark.parametrize(("changes", "problem"), BAD_VALUES)
def test_storage_refuses_a_wrong_value_by_name_instead_of_guessing(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(DocumentError, match=problem):
        require_document(storable(document(**changes)), 7)


def test_a_clean_document_is_stored_as_it_is_without_being_walked() -> None:
    doc = document(top_stocks=[holding(name="平安银行")])
    stored, text = storable_json(doc)
    assert stored is doc
    assert text == json.dumps(storable(doc), ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize("dirty", [
    {"fund_name": "C\x00D", "top_stocks": [{"name": "E\x00F"}]},
    {"as_of": dt.date(2025, 3, 31), "amount": Decimal("1.50")},
    {"ratio": math.nan, "limit": -math.inf},
    {"nested": {"text": "a\\u0000b"}},  # the six characters, not a NUL: walked, and kept
])
def test_a_value_with_something_to_change_is_made_storable_as_the_walk_makes_it(dirty: dict[str, Any]) -> None:
    stored, text = storable_json(dirty)
    assert stored == storable(dirty)
    assert text == json.dumps(storable(dirty), ensure_ascii=False, sort_keys=True)


def test_a_document_of_the_right_types_passes_the_door_as_it_is() -> None:
    doc = storable(document())
    assert require_document(doc, 7) is doc


def test_an_empty_section_is_no_rows_and_an_absent_one_too() -> None:
    printed_empty = document(top_stocks=[], precious_metals=[])
    absent = {key: value for key, value in printed_empty.items() if key not in HOLDING_KINDS}
    assert normalized_rows(printed_empty, 1, "v")[holdings] == []
    assert normalized_rows(absent, 1, "v")[holdings] == []
