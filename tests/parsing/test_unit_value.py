"""NAV per unit stated in words: taken where the page states it and no 期末基金份额净值 row is printed.

Money-market pages (none in the corpus) keep the share at 1.00 yuan and may print no NAV row; they are
built here with the real EID markup (``tests.parsing.pages``). The reader itself is proven on the real
pages that state their period-end value in prose or notes: what it reads equals the printed NAV row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.parsing import parse_report
from crawler.parsing.checks import run_checks
from crawler.parsing.dom import load_page
from crawler.parsing.sections.unit_value import parse_stated_nav
from tests.parsing import pages
from tests.parsing.conftest import Parsed
from tests.parsing.test_degradation import BANNER, BASIC, CHANGES, MAIN, YIELD, A, B
from tests.parsing.test_metadata import PAGES

#: Corpus pages whose text states the period-end NAV (业绩表现 prose, or the note under 基金净值表现).
STATING = {
    "001056_2024_annual", "001691_2024_annual", "001829_2024_annual", "002379_2024_annual",
    "003016_2024_interim", "004352_2024_annual", "007910_2024_annual", "009573_2024_annual",
    "009954_2024_annual", "013060_2024_annual", "013242_2024_annual", "013242_2025_q1", "015975_2024_annual",
    "017822_2024_annual", "020988_2024_annual", "159980_2024_annual", "168501_2024_annual", "168501_2025_q1",
    "202801_2024_annual", "970006_2024_annual", "970086_2025_q1", "970127_2024_q2", "970127_2025_q1",
}  # fmt: skip


@pytest.mark.parametrize("name", PAGES)
def test_values_read_from_real_text_equal_the_printed_nav_row(
    name: str, parsed: Parsed, corpus_dir: Path
) -> None:
    doc = parsed(name).document
    classes = [c["name"] for c in doc.get("share_classes", [])]
    names = [n for n in (doc.get("short_name"), doc.get("fund_name")) if n]
    page = load_page((corpus_dir / f"{name}.html").read_bytes())
    stated = parse_stated_nav(page, classes, names, doc["period_end"]).get("nav_per_unit", {})
    assert bool(stated) == (name in STATING)
    assert stated == {key: doc["nav_per_unit"][key] for key in stated}
    assert "nav_per_unit_source" not in doc  # these pages print the row, which wins


def test_every_class_stated_in_a_note_is_read(corpus_dir: Path, parsed: Parsed) -> None:
    doc = parsed("003016_2024_interim").document
    page = load_page((corpus_dir / "003016_2024_interim.html").read_bytes())
    classes = [c["name"] for c in doc["share_classes"]]
    assert parse_stated_nav(page, classes, [], "2024-06-30")["nav_per_unit"] == {
        "中金中证500A": 1.4533,
        "中金中证500C": 1.4297,
    }


def _prose(heading: str, *paragraphs: str) -> str:
    cells = "".join(f'<tr><td class="Contentbox"><div class="text_area">{p}</div></td></tr>' for p in paragraphs)
    return pages.heading(heading, level=3) + f"<table>{cells}</table>"


KEPT = "本基金采用摊余成本法核算，通过每日分配收益使基金份额净值保持为人民币1.00元。"


def test_money_market_unit_value_is_taken_from_the_text_that_states_it() -> None:
    performance = _prose("报告期内基金的业绩表现", f"本报告期{A}的基金份额净值收益率为0.3510%。{KEPT}")
    report = parse_report(pages.page_with_banner(BANNER, BASIC, MAIN, YIELD, performance, CHANGES))
    doc = report.document
    assert doc["nav_per_unit"] == {"total": 1.0}
    assert doc["nav_per_unit_source"] == {
        "total": {"from": "text", "section": "报告期内基金的业绩表现", "text": KEPT}
    }
    assert report.section_errors == {}
    assert {name for name, message in run_checks(doc, None).items() if message} == set()


def test_a_class_named_in_the_text_keys_its_own_value() -> None:
    note = _prose("报告期内基金的业绩表现", f"截至本报告期末{B}的基金份额净值为1.0000元，本报告期净值收益率为0.41%。")
    doc = parse_report(pages.page_with_banner(BANNER, BASIC, MAIN, note)).document
    assert doc["nav_per_unit"] == {B: 1.0}
    assert doc["nav_per_unit_source"][B]["from"] == "text"


NOT_STATED = [
    ("no statement", "本报告期本基金份额净值收益率为0.3510%，同期业绩比较基准收益率为0.3375%。"),
    ("face value", "本基金首次募集，每份基金份额面值为1.00元，发行价格为人民币1.00元。"),
    ("another date", "2024年6月30日，基金份额净值为1.0000元。"),
    ("another period end", "报告截止日2024年12月31日，基金份额净值为人民币1.0000元。"),
    ("another fund", "本基金所投资的货币市场基金份额净值保持为人民币1.00元。"),
    ("fund level of a class fund", "截至本报告期末本基金份额净值为1.0000元。"),
    ("a class the page does not list", "截至本报告期末某某货币E的基金份额净值为1.0000元。"),
]


@pytest.mark.parametrize("text", [t for _, t in NOT_STATED], ids=[n for n, _ in NOT_STATED])
def test_nav_is_never_invented_where_the_page_does_not_state_it(text: str) -> None:
    report = parse_report(pages.page_with_banner(BANNER, BASIC, MAIN, _prose("报告期内基金的业绩表现", text)))
    assert "nav_per_unit" not in report.document
    assert "nav_per_unit_source" not in report.document
    assert report.section_errors == {}


def test_two_statements_that_disagree_are_a_flag_not_a_pick() -> None:
    text = _prose("报告期内基金的业绩表现", KEPT, "本基金基金份额净值保持为人民币1.05元。")
    report = parse_report(pages.page_with_banner(BANNER, BASIC, MAIN, text))
    assert "nav_per_unit" not in report.document
    assert "1.0 and 1.05" in report.document["unread_sections"]["nav_per_unit_text"]
    assert run_checks(report.document, None)["sections_read"] is not None
