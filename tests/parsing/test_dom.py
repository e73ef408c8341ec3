"""The page model: banner, sections in document order, tables with spans, units, notes, comments dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.exceptions import ParseError
from crawler.parsing.dom import Cell, Table, load_page
from tests.parsing import pages

BANNER = pages.banner(
    "某某基金<br/>2025年第1季度报告", "2025-03-31", "甲基金管理有限公司", "乙银行", "2025-04-22"
)


def test_banner_title_split_by_br_is_joined_without_separator() -> None:
    html = pages.page_with_banner(BANNER.replace("&lt;br/&gt;", "<br/>\n   "))
    assert load_page(html).banner[0] == "某某基金2025年第1季度报告"


def test_sections_carry_heading_level_anchor_unit_tables_and_notes() -> None:
    html = pages.page_with_banner(
        BANNER,
        pages.heading("主要财务指标", anchor="tabItem2_mainFinanceItem"),
        pages.table(
            ["主要财务指标", "报告期"],
            [["1.本期利润", "5,823,059.89"]],
            unit="单位：人民币元",
            note="注：说明",
        ),
        pages.heading("基金份额净值增长率及其与同期业绩比较基准收益率的比较", level=3),
    )
    page = load_page(html)
    first, second = page.sections
    assert (first.heading, first.level, first.index, second.level, second.index) == (
        "主要财务指标",
        2,
        0,
        3,
        1,
    )
    assert first.unit == "单位：人民币元"
    assert first.notes == ["注：说明"]
    assert first.tables[0].rows[1] == [Cell("1.本期利润"), Cell("5,823,059.89")]
    assert first.tables[0].row_classes == ["cc", "dd"]
    assert second.anchors == [] and second.tables == []


def test_commented_out_markup_is_not_data() -> None:
    hidden = "<!-- " + pages.table(None, [["期末还原后基金份额累计净值", "1.234"]]) + " -->"
    html = pages.page_with_banner(BANNER, pages.heading("主要财务指标"), hidden)
    assert load_page(html).sections[0].tables == []


def test_cell_text_is_normalised_and_spans_are_lenient() -> None:
    html = pages.page_with_banner(
        BANNER,
        pages.heading("表"),
        '<table class="bb"><tr class="cc"><td rowspan="1.00" colspan="2"><p>\n13.77\n%\n</p></td></tr>'
        '<tr class="dd"><td rowspan="x"><p>S&amp;P Global Inc</p><p>2024-04-01 - 2024-06-30</p></td>'
        '<td>\ufeff万 科Ａ\u3000</td></tr><tr class="dd"></tr></table>',
    )
    table = load_page(html).sections[0].tables[0]
    assert table.rows == [
        [Cell("13.77 %", colspan=2, rowspan=1)],
        [Cell("S&P Global Inc 2024-04-01 - 2024-06-30"), Cell("万 科Ａ")],
    ]
    assert table.row_classes == ["cc", "dd"]


def test_grid_expands_colspan_and_rowspan() -> None:
    table = Table(
        rows=[
            [Cell("姓名", rowspan=2), Cell("期限", colspan=2), Cell("说明", rowspan=2)],
            [Cell("任职日期"), Cell("离任日期")],
            [Cell("程敏"), Cell("2021-09-27"), Cell("-"), Cell("…")],
        ],
        row_classes=["cc", "cc", "dd"],
    )
    assert table.grid() == [
        ["姓名", "期限", "期限", "说明"],
        ["姓名", "任职日期", "离任日期", "说明"],
        ["程敏", "2021-09-27", "-", "…"],
    ]


def test_find_scopes_by_position() -> None:
    html = pages.page_with_banner(
        BANNER,
        pages.heading("基金基本情况"),
        pages.heading("报表附注"),
        pages.heading("基金基本情况", level=3),
    )
    page = load_page(html)
    first = page.find(r"^基金基本情况$")
    assert first is not None and first.index == 0
    later = page.find(r"^基金基本情况$", after=first)
    assert later is not None and later.index == 2
    assert [s.index for s in page.find_all("基金基本情况")] == [0, 2]
    assert page.find("不存在") is None


@pytest.mark.parametrize("html", ["", "<html><body><p>404 Not Found</p></body></html>", b"\x00\x01binary"])
def test_non_report_pages_raise_parse_error(html: str | bytes) -> None:
    with pytest.raises(ParseError, match="not a report page"):
        load_page(html)


def test_real_page_layout_and_bom(corpus_dir: Path) -> None:
    page = load_page((corpus_dir / "970127_2025_q1.html").read_bytes())
    assert page.banner[0] == "德邦资管月月鑫30天滚动持有债券型集合资产管理计划2025年第1季度报告"
    assert page.sections[0].heading == "重要提示"
    main = page.find(r"^主要财务指标$")
    assert main is not None and main.unit == "单位：人民币元"
    assert main.tables[0].rows[0][2].text == "德邦资管月月鑫30天滚动债A(元) 2025-01-01 - 2025-03-31"
    assert all("\ufeff" not in s.heading and "\ufeff" not in "".join(s.anchors) for s in page.sections)


def test_page_without_charset_declaration_is_read_as_utf8() -> None:
    html = '<html><body><div id="banner"><p>某基金2025年第1季度报告</p></div></body></html>'
    assert load_page(html.encode("utf-8")).banner == ["某基金2025年第1季度报告"]
    assert load_page(b"\xef\xbb\xbf" + html.encode("utf-8")).banner == ["某基金2025年第1季度报告"]


def test_text_around_a_paragraph_is_kept() -> None:
    html = pages.page_with_banner(
        BANNER,
        pages.heading("表"),
        '<table class="bb"><tr class="dd"><td><p>甲</p>乙</td><td>丙<p>丁</p></td><td><p>-</p></td>'
        '<td colspan="2"><p>-</p></td></tr></table>',
    )
    (row,) = load_page(html).sections[0].tables[0].rows
    assert row == [Cell("甲 乙"), Cell("丙 丁"), Cell("-"), Cell("-", colspan=2)]
