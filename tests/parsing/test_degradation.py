"""Layouts the corpus lacks: a money-market page and a broken section degrade, they never crash.

The money-market template has no NAV-per-unit row, yields instead of NAV growth and
maturity/shadow-pricing sections; the page is built with the real EID markup by ``tests.parsing.pages``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from crawler.exceptions import ParseError
from crawler.parsing import PARSER_VERSION, parse_report
from crawler.parsing.checks import run_checks
from tests.parsing import pages

A, B = "某某货币A", "某某货币B"
BANNER = pages.banner(
    "某某货币市场基金2025年第1季度报告",
    "2025-03-31",
    "甲基金管理有限公司",
    "乙银行股份有限公司",
    "2025-04-21",
)
BASIC = pages.heading("基金基本情况") + pages.table(
    ["项目", "数值|c2"],
    [
        ["基金简称", "某某货币|c2"],
        ["基金主代码", "000009|c2"],
        ["基金运作方式", "契约型开放式|c2"],
        ["报告期末基金份额总额", "3,000,000.00|c2"],
        ["下属2级基金的基金简称", A, B],
        ["下属2级基金的交易代码", "000009", "000010"],
        ["报告期末下属2级基金的份额总额", "1,000,000.00", "2,000,000.00"],
        ["下属2级基金的风险收益特征", "低风险", ""],
    ],
)
MAIN = pages.heading("主要财务指标") + pages.table(
    ["主要财务指标", "主基金(元)", f"{A}(元) 2025-01-01 - 2025-03-31", f"{B}(元) 2025-01-01 - 2025-03-31"],
    [
        ["1.本期已实现收益", "", "4,100.00", "9,300.00"],
        ["2.本期利润", "", "4,100.00", "9,300.00"],
        ["3.期末基金资产净值", "", "1,000,000.00", "2,000,000.00"],
        ["七日年化收益率（%）", "", "1.4210", "1.6620"],
        ["期末基金份额万份收益", "", "", "0.4512"],
    ],
    unit="单位：人民币元",
)
YIELD = pages.heading(f"基金份额净值收益率及其与同期业绩比较基准收益率的比较{A}", level=3) + pages.table(
    [
        "阶段",
        "净值收益率①",
        "净值收益率标准差②",
        "业绩比较基准收益率③",
        "业绩比较基准收益率标准差④",
        "①-③",
        "②-④",
    ],
    [["过去三个月", "0.3510%", "0.0010%", "0.3375%", "0.0000%", "0.0135%", "0.0010%"]],
)
MATURITY = pages.heading("投资组合平均剩余期限基本情况") + pages.table(
    ["项目", "天数"], [["报告期末投资组合平均剩余期限", "98"], ["报告期内投资组合平均剩余期限最高值", "110"]]
)
SHADOW = pages.heading("“影子定价”与“摊余成本法”确定的基金资产净值的偏离") + pages.table(
    ["项目", "偏离情况"], [["报告期内偏离度的最高值", "0.0312%"]]
)
CHANGES = pages.heading("开放式基金份额变动") + pages.table(
    ["项目", "某某货币", A, B],
    [
        ["报告期期初基金份额总额", "", "900,000.00", "2,100,000.00"],
        ["报告期期间基金总申购份额", "", "300,000.00", "100,000.00"],
        ["减：报告期期间基金总赎回份额", "", "200,000.00", "200,000.00"],
        ["报告期期末基金份额总额", "3,000,000.00", "1,000,000.00", "2,000,000.00"],
    ],
)


def mmf_page() -> str:
    return pages.page_with_banner(BANNER, BASIC, MAIN, YIELD, MATURITY, SHADOW, CHANGES)


def test_money_market_page_keeps_known_sections_and_maps_no_nav() -> None:
    report = parse_report(mmf_page())
    doc = report.document
    assert (doc["fund_code"], doc["report_kind"], doc["period_start"]) == ("000009", "q1", "2025-01-01")
    assert doc["share_classes"] == [{"name": A, "code": "000009"}, {"name": B, "code": "000010"}]
    assert doc["class_risk_profiles"] == {A: "低风险"}
    assert doc["ending_shares"] == {"total": 3000000.0, A: 1000000.0, B: 2000000.0}
    assert doc["total_net_assets"] == {A: 1000000.0, B: 2000000.0}
    assert "nav_per_unit" not in doc  # no 期末基金份额净值 row: nothing is guessed
    assert doc["indicators"][A]["yield_7d_annualized_pct"] == 1.421
    assert doc["indicators"][B]["other"] == {
        "期末基金份额万份收益": 0.4512
    }  # unfamiliar row: kept, not mapped
    assert doc["nav_performance"][A][0]["nav_growth"] == 0.351
    assert doc["share_changes"][B]["ending"] == 2000000.0
    assert report.parser_version == PARSER_VERSION


def test_money_market_sections_are_reported_unknown() -> None:
    report = parse_report(mmf_page())
    assert report.unknown_sections == [
        "投资组合平均剩余期限基本情况",
        "“影子定价”与“摊余成本法”确定的基金资产净值的偏离",
    ]
    assert report.section_errors == {}


def test_money_market_document_passes_its_cross_checks() -> None:
    doc = parse_report(mmf_page()).document
    results = run_checks(doc, {"fund_code": "000009", "send_date": "2025-04-21"})
    assert results["share_changes"] is None
    assert results["class_totals"] is None
    assert results["listing_send_date"] is None
    assert "nav_per_unit" not in results


def test_unreadable_section_is_recorded_and_the_rest_still_parsed() -> None:
    broken = MAIN.replace("1,000,000.00", "见附表")
    report = parse_report(pages.page_with_banner(BANNER, BASIC, broken, CHANGES))
    assert "主要财务指标" in report.section_errors
    assert "见附表" in report.section_errors["主要财务指标"]
    assert report.document["fund_code"] == "000009"
    assert report.document["share_changes"][A]["beginning"] == 900000.0
    assert "total_net_assets" not in report.document
    assert report.document["unread_sections"] == report.section_errors  # in the document, not only the row
    assert "主要财务指标" in (run_checks(report.document, None)["sections_read"] or "")


def test_unrecognised_title_is_a_section_error_not_a_crash() -> None:
    odd = pages.banner("某某基金临时公告", "2025-03-31", "甲", "乙", "2025-04-21")
    report = parse_report(pages.page_with_banner(odd, BASIC))
    assert "banner" in report.section_errors
    assert report.document["fund_code"] == "000009"


def test_a_page_that_is_not_a_report_raises() -> None:
    with pytest.raises(ParseError):
        parse_report("<html><body><h1>系统繁忙</h1></body></html>")


def test_damaged_real_pages_never_crash_the_parser(corpus_dir: Path) -> None:
    """Truncated, cut and garbled copies of real pages: a document or ParseError, nothing else."""
    rng = random.Random(7)
    body = (corpus_dir / "970127_2025_q1.html").read_bytes()
    text = body.decode("utf-8")
    numbers = [m.start() for m in re.finditer(r"\d,\d{3}\.\d\d", text)]
    damaged = [body[: rng.randrange(len(body))] for _ in range(10)]
    damaged += [body[:a] + body[a + rng.randrange(1, 5000) :] for a in rng.sample(range(len(body)), 10)]
    for _ in range(10):
        chars = list(text)
        for pos in rng.sample(numbers, 5):
            chars[pos] = "X"
        damaged.append("".join(chars).encode("utf-8"))
    damaged.append(text.replace('colspan="2"', 'colspan="abc"').replace('class="cc"', 'class="dd"').encode())
    outcomes = []
    for page in damaged:
        try:
            outcomes.append(parse_report(page).document.get("fund_code"))
        except ParseError:
            outcomes.append("not a report")
    assert len(outcomes) == len(damaged)
    assert outcomes.count("970127") >= 20  # most damage leaves the banner and basic info readable


def test_class_columns_are_not_guessed_when_the_class_names_are_unreadable() -> None:
    broken_basic = BASIC.replace("下属2级基金的基金简称", "下属级基金简称（新版）")
    report = parse_report(pages.page_with_banner(BANNER, broken_basic, MAIN))
    assert "nav_per_unit" not in report.document
    assert "total_net_assets" not in report.document


def test_annual_class_columns_are_not_guessed_either() -> None:
    annual = pages.banner(
        "某某货币市场基金2024年年度报告",
        "2024-12-31",
        "甲基金管理有限公司",
        "乙银行股份有限公司",
        "2025-03-31",
    )
    table = (
        '<table class="bb"><tr class="cc"><td rowspan="2"><p>期间数据和指标</p></td><td colspan="3"><p>2024年</p></td></tr>'
        f'<tr class="cc"><td><p>某某货币</p></td><td><p>{A}</p></td><td><p>{B}</p></td></tr>'
        '<tr class="dd"><td><p>期末基金份额净值</p></td><td><p></p></td><td><p>1.0000</p></td><td><p>1.0000</p></td></tr></table>'
    )
    known = pages.page_with_banner(annual, BASIC, pages.heading("主要会计数据和财务指标"), table)
    assert parse_report(known).document["nav_per_unit"] == {A: 1.0, B: 1.0}
    unknown = parse_report(pages.page_with_banner(annual, pages.heading("主要会计数据和财务指标"), table))
    assert "nav_per_unit" not in unknown.document  # A and B would both read as "total"
    assert "cannot be told apart" in unknown.section_errors["主要会计数据和财务指标"]


def test_share_change_columns_are_not_guessed_without_class_names() -> None:
    report = parse_report(pages.page_with_banner(BANNER, CHANGES))
    assert "share_changes" not in report.document
    assert "cannot be told apart" in report.section_errors["开放式基金份额变动"]
