"""Generated pages: deterministic, realistic in size, internally consistent, and read by the real parser."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from crawler.parsing import parse_report
from crawler.parsing.checks import run_checks
from tests.replica.generator import PageSpec, generate_page

KINDS = ("q1", "q2", "q3", "q4")
TYPES = ("6020-6010", "6020-6030", "6020-6040")


def spec(seed: int, classes: int = 0, kind: str = "q1", fund_type: str = "6020-6040") -> PageSpec:
    return PageSpec(
        fund_code=f"{800000 + 2 * seed:06d}", fund_name="华夏稳健增长混合型证券投资基金", short_name="华夏稳健增长混合",
        manager="华夏基金管理有限公司", custodian="中国银行股份有限公司", report_kind=kind, report_year=2025,
        send_date=dt.date(2025, 4, 22), fund_type=fund_type, classes=classes, seed=seed,
    )


SPECS = [spec(seed, 2 if seed % 4 == 0 else 0, KINDS[seed % 4], TYPES[seed % 3]) for seed in range(40)]


def test_same_seed_same_bytes_other_seed_other_page() -> None:
    assert generate_page(spec(5)).html == generate_page(spec(5)).html
    assert generate_page(spec(5)).html != generate_page(spec(6)).html


def test_pages_are_real_sized_utf8_html() -> None:
    for page in map(generate_page, SPECS):
        assert 20_000 <= len(page.html) <= 120_000
        page.html.decode("utf-8")


def test_numbers_are_internally_consistent() -> None:
    for page in map(generate_page, SPECS):
        doc = page.expected
        top_level = [row for row in doc["asset_allocation"] if row["seq"] is not None]
        assert sum(row["amount_yuan"] for row in top_level) == pytest.approx(doc["total_assets"], abs=0.01)
        for row in top_level:
            assert row["pct_of_total_assets"] == pytest.approx(row["amount_yuan"] / doc["total_assets"] * 100, abs=0.005)
        for name, change in doc["share_changes"].items():
            if name != "total":
                flow = change["beginning"] + change["subscriptions"] - change["redemptions"] + change["split"]
                assert flow == pytest.approx(change["ending"], abs=0.01)
                net, shares = doc["total_net_assets"][name], doc["ending_shares"][name]
                assert doc["nav_per_unit"][name] == pytest.approx(net / shares, abs=0.00006)


def _subset_diff(expected: Any, parsed: Any, path: str = "") -> list[str]:
    """Where ``parsed`` disagrees with ``expected`` (floats within half a cent, None equals a missing code)."""
    if isinstance(expected, dict):
        if not isinstance(parsed, dict):
            return [f"{path}: {parsed!r} is not an object"]
        return [line for key, value in expected.items()
                for line in _subset_diff(value, parsed.get(key), f"{path}.{key}")]
    if isinstance(expected, list):
        if not isinstance(parsed, list) or len(parsed) != len(expected):
            return [f"{path}: {len(expected)} rows expected, got {parsed!r:.200}"]
        return [line for i, (e, p) in enumerate(zip(expected, parsed)) for line in _subset_diff(e, p, f"{path}[{i}]")]
    if isinstance(expected, float) and isinstance(parsed, int | float):
        return [] if abs(expected - parsed) <= 0.005 else [f"{path}: {expected} != {parsed}"]
    return [] if expected == parsed else [f"{path}: {expected!r} != {parsed!r}"]


def test_the_parser_reads_generated_pages_as_the_oracle_says() -> None:
    for page_spec in SPECS:
        page = generate_page(page_spec)
        parsed = parse_report(page.html)
        assert not parsed.section_errors, page_spec
        assert _subset_diff(page.expected, parsed.document) == [], page_spec


def test_generated_pages_pass_the_parser_cross_checks() -> None:
    for page_spec in SPECS:
        document = parse_report(generate_page(page_spec).html).document
        listing = {"fund_code": page_spec.fund_code, "send_date": page_spec.send_date.isoformat()}
        assert {name: msg for name, msg in run_checks(document, listing).items() if msg} == {}, page_spec


def test_profile_pages_use_the_profile_template_and_parse() -> None:
    page_spec = PageSpec(
        fund_code="800010", fund_name="华夏稳健增长混合型证券投资基金", short_name="华夏稳健增长混合",
        manager="华夏基金管理有限公司", custodian="中国银行股份有限公司", report_kind="profile", report_year=2025,
        send_date=dt.date(2025, 7, 14), seed=3,
    )
    page = generate_page(page_spec)
    assert 20_000 <= len(page.html) <= 120_000
    assert "送出日期：2025-07-14".encode() in page.html and "报告送出日期".encode() not in page.html
    assert _subset_diff(page.expected, parse_report(page.html).document) == []


MONEY_MARKET_SPECS = [
    spec(seed, classes, kind, fund_type="6020-6020") for seed, (classes, kind) in enumerate(
        [(0, "q1"), (2, "q2"), (0, "annual"), (3, "interim")], start=100)
]


@pytest.mark.parametrize("page_spec", MONEY_MARKET_SPECS, ids=lambda s: f"{s.report_kind}-{s.classes}")
def test_money_market_pages_print_no_nav_row_and_the_parser_takes_the_stated_value(page_spec: PageSpec) -> None:
    page = generate_page(page_spec)
    assert "期末基金份额净值" not in page.html.decode("utf-8")  # no NAV row anywhere on the page
    parsed = parse_report(page.html)
    doc = parsed.document
    assert not parsed.section_errors
    assert _subset_diff(page.expected, doc) == []
    assert doc["nav_per_unit"] == {"total": 1.0}  # the fund-level value the text states; no class is guessed
    assert doc["nav_per_unit_source"]["total"]["text"] == "本基金采用摊余成本法对持有的投资组合进行估值，通过每日分配收益使基金份额净值保持为人民币1.00元。"
    listing = {"fund_code": page_spec.fund_code, "send_date": page_spec.send_date}
    assert {name: msg for name, msg in run_checks(doc, listing).items() if msg} == {}
