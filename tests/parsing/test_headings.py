"""The known-heading registry: section modules register patterns; new layouts are reported."""

from __future__ import annotations

from crawler.parsing import KNOWN_HEADINGS
from crawler.parsing.headings import is_known, known_patterns
from crawler.parsing.sections import indicators, portfolio, shares


def test_every_section_module_contributes_its_patterns() -> None:
    registered = set(known_patterns())
    assert set(indicators.HEADINGS) <= registered
    assert set(shares.HEADINGS) <= registered
    assert set(portfolio.HEADINGS) <= registered
    assert KNOWN_HEADINGS == known_patterns()


def test_prose_chapters_and_class_suffixed_headings_are_known() -> None:
    assert is_known("管理人对宏观经济、证券市场及行业走势的简要展望")
    assert is_known("过去三年基金的利润分配情况 E")
    assert is_known("期末上市基金前十名持有人B")
    classes = ["德邦资管月月鑫30天滚动债A", "德邦资管月月鑫30天滚动债C"]
    assert is_known("基金份额净值增长率及其与同期业绩比较基准收益率的比较德邦资管月月鑫30天滚动债C", classes)
    assert is_known("利润分配情况——固定净值型货币市场基金之外的基金德邦资管月月鑫30天滚动债A", classes)
    assert is_known("德邦资管月月鑫30天滚动债A", classes)
    assert is_known("会计主体：某某货币市场基金")
    assert is_known("资产项目名称:某高速公路项目")


def test_new_sections_are_unknown() -> None:
    assert not is_known("投资组合平均剩余期限基本情况")
    assert not is_known("报告期末投资组合平均剩余期限分布比例")
    assert not is_known("德邦资管月月鑫30天滚动债A")  # a class name only counts on its own page
