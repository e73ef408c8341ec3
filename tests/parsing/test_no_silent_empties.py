"""No silent empties: a section printed with a table the parser cannot read flags the report.

An absent key means "the page has no such section" and an empty list "printed, nothing held"; a table the
parser could not read must be neither. Each case builds an EID-shaped page (``tests.parsing.pages``) whose
section prints a table in a layout the parser does not know, and checks what a user sees: the heading in
``unread_sections`` with the reason, the key absent, and the ``sections_read`` check failing (which is what
``fundcrawl status`` lists under parse flags).
"""

from __future__ import annotations

import pytest

from crawler.parsing import parse_report
from crawler.parsing.checks import run_checks
from tests.parsing import pages
from tests.parsing.conftest import Parsed
from tests.parsing.test_degradation import BANNER, BASIC

ODD = ["类别", "数值"]
#: heading, the key it feeds, a table the parser cannot map, a part of the reason.
CASES = [
    (
        "基金份额净值增长率及其与同期业绩比较基准收益率的比较",
        "nav_performance",
        pages.table(["期间", "回报", "基准"], [["过去三个月", "1.00%", "0.50%"]]),
        "no known column",
    ),
    ("期末基金份额持有人户数及持有人结构", "holders", pages.table(ODD, [["机构", "100"]]), "no known column"),
    ("过去三年基金的利润分配情况", "distributions", pages.table(ODD, [["2024", "1,000.00"]]), "5 or 6 expected"),
    (
        "报告期内单一投资者持有基金份额比例达到或超过20%的情况",
        "single_investors_over_20pct",
        pages.table(ODD, [["机构", "100"]]),
        "8 expected",
    ),
    ("审计报告基本信息", "audited", pages.table(ODD, [["是否审计", "是"]]), "table printed but not read"),
    (
        "期末基金资产组合情况",
        "asset_allocation",
        pages.table(["序号", "项目", "金额（元）", "占基金资产净值比例（％）"], [["1", "权益投资", "100.00", "50.00"]]),
        "percentage basis not known",
    ),
]


@pytest.mark.parametrize(("heading", "key", "table", "reason"), CASES, ids=[c[1] for c in CASES])
def test_an_unreadable_table_is_flagged_not_left_out(heading: str, key: str, table: str, reason: str) -> None:
    report = parse_report(pages.page_with_banner(BANNER, BASIC, pages.heading(heading), table))
    doc = report.document
    assert key not in doc
    assert reason in doc["unread_sections"][heading]
    assert report.section_errors == doc["unread_sections"]
    assert doc["fund_code"] == "000009"  # the rest of the page is still read
    flag = run_checks(doc, None)["sections_read"]
    assert flag is not None and heading in flag and reason in flag


def test_a_section_printed_empty_is_not_flagged() -> None:
    empty = pages.heading("过去三年基金的利润分配情况") + pages.table(
        ["年度", "每10份基金份额分红数", "现金形式发放总额", "再投资形式发放总额", "年度利润分配合计", "备注"],
        [],
        note="注：本基金过去三年未进行利润分配。",
    )
    nothing = pages.heading("报告期内单一投资者持有基金份额比例达到或超过20%的情况") + pages.table(
        ["投资者类别", "序号", "时间区间", "期初份额", "申购份额", "赎回份额", "持有份额", "份额占比"],
        [["机构", "-", "-", "-", "-", "-", "-", "-"], ["个人", "-", "-", "-", "-", "-", "-", "-"]],
    )
    doc = parse_report(pages.page_with_banner(BANNER, BASIC, empty, nothing)).document
    assert "unread_sections" not in doc
    assert doc["single_investors_over_20pct"] == []
    assert run_checks(doc, None)["sections_read"] is None


def test_every_investor_of_a_spanned_type_cell_is_read(parsed: Parsed) -> None:
    """The investor-type cell spans its investors' rows: the rows after the first were once dropped."""
    rows = parsed("004352_2024_annual").document["single_investors_over_20pct"]
    assert [(r["investor_type"], r["seq"], r["ending"], r["pct"]) for r in rows] == [
        ("个人", 1, 0.0, 0.0),
        ("个人", 2, 0.0, 0.0),
        ("个人", 3, 9_355_846.64, 64.44),
        ("个人", 4, 0.0, 0.0),
    ]
    assert [r["seq"] for r in parsed("017198_2024_annual").document["single_investors_over_20pct"]] == [1, 2]


def test_a_feeder_fund_holding_an_etf_is_an_investor_not_an_empty_table(parsed: Parsed) -> None:
    (row,) = parsed("518890_2024_annual").document["single_investors_over_20pct"]
    assert row["investor_type"] == "招商银行股份有限公司－中银上海金交易型开放式证券投资基金联接基金"
    assert (row["beginning"], row["ending"], row["pct"]) == (6_595_925.0, 73_498_838.0, 91.8106)
    (target,) = parsed("159980_2024_annual").document["single_investors_over_20pct"]
    assert (target["investor_type"], target["ending"], target["pct"]) == ("目标基金的联接基金", 51_126_178.0, 11.24)


def test_an_investor_cell_with_several_intervals_keeps_every_one(parsed: Parsed) -> None:
    fourth = parsed("004352_2024_annual").document["single_investors_over_20pct"][3]
    assert (fourth["period_start"], fourth["period_end"]) == ("2024-03-05", "2024-03-11")
    assert fourth["periods"] == [["2024-03-05", "2024-03-11"], ["2024-03-14", "2024-11-12"]]
    (target,) = parsed("159980_2024_annual").document["single_investors_over_20pct"]
    assert len(target["periods"]) == 5 and target["periods"][-1] == ["2024-05-17", "2024-05-17"]
    assert "periods" not in parsed("017198_2024_annual").document["single_investors_over_20pct"][0]
