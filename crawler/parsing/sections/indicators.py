"""Main indicators (主要财务指标 / 主要会计数据和财务指标, REIT 其他财务指标) for the current period.

Shapes: quarterly ``label | 报告期（…）`` or ``label | 主基金(元) | <A>(元) | <C>(元)``;
annual and interim blocks headed by ``tr.cc`` rows (``期间数据和指标 | 2024年 | 2023年 …``) with a second
header row of class names when the fund has classes; the fund-level column of a class table is blank.
Only the current-period columns are read: the first header column's period label and those sharing it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, TypedDict

from crawler.exceptions import ParseError
from crawler.models import ByClass, ClassIndicators
from crawler.parsing.dom import Page, Table
from crawler.parsing.sections.tables import TOTAL, class_key, first_table, label
from crawler.parsing.values import parse_number, parse_period

MAIN = re.compile(r"^(?:主要财务指标|主要会计数据和财务指标)$")
REIT_OTHER = re.compile(r"^其他财务指标$")
HEADINGS: tuple[re.Pattern[str], ...] = (MAIN, REIT_OTHER)

#: Printed row label -> field name. Labels not listed land in ``other`` as printed (money-market rows such as
#: 七日年化收益率 included), so an unfamiliar template never has its NAV mis-mapped.
_Field = Literal[
    "realized_income",
    "period_profit",
    "weighted_avg_profit_per_unit",
    "weighted_avg_nav_return_pct",
    "nav_growth_pct",
    "distributable_profit_end",
    "distributable_profit_per_unit",
    "net_assets_end",
    "nav_per_unit_end",
    "cumulative_nav_growth_pct",
    "revenue",
    "net_profit",
    "operating_cash_flow",
    "cash_distribution_rate_pct",
    "annualized_cash_distribution_rate_pct",
    "total_assets_end",
    "assets_to_net_assets_pct",
    "irr_pct",
    "fair_value_reference_nav_per_unit",
    "yield_7d_annualized_pct",
    "income_per_10k_units",
]
FIELDS: dict[str, _Field] = {
    "本期已实现收益": "realized_income",
    "本期利润": "period_profit",
    "加权平均基金份额本期利润": "weighted_avg_profit_per_unit",
    "本期加权平均净值利润率": "weighted_avg_nav_return_pct",
    "本期基金份额净值增长率": "nav_growth_pct",
    "期末可供分配利润": "distributable_profit_end",
    "期末可供分配基金份额利润": "distributable_profit_per_unit",
    "期末基金资产净值": "net_assets_end",
    "期末基金净资产": "net_assets_end",
    "期末基金份额净值": "nav_per_unit_end",
    "基金份额累计净值增长率": "cumulative_nav_growth_pct",
    "本期收入": "revenue",
    "本期净利润": "net_profit",
    "本期经营活动产生的现金流量净额": "operating_cash_flow",
    "本期现金流分派率": "cash_distribution_rate_pct",
    "年化现金流分派率": "annualized_cash_distribution_rate_pct",
    "期末基金总资产": "total_assets_end",
    "期末基金总资产与净资产的比例（%）": "assets_to_net_assets_pct",
    "内部收益率": "irr_pct",
    "期末基金份额公允价值参考净值": "fair_value_reference_nav_per_unit",
    # Money-market rows (no sample in the corpus; labels from the CSRC template).
    "七日年化收益率": "yield_7d_annualized_pct",
    "期末七日年化收益率": "yield_7d_annualized_pct",
    "每万份基金已实现收益": "income_per_10k_units",
    "本期每万份基金已实现收益": "income_per_10k_units",
}
#: A trailing ``（%）`` on a row label names the unit, not the concept.
_PCT_SUFFIX = re.compile(r"\s*[（(][%％][）)]$")


class IndicatorsPart(TypedDict, total=False):
    """The indicators by class, the two figures the document also lists on their own, and the first period the
    table's header prints (ISO start and end) for the assembler."""

    indicator_period: list[str] | None
    indicators: dict[str, ClassIndicators]
    total_net_assets: ByClass
    nav_per_unit: ByClass


def parse_indicators(page: Page, class_names: Sequence[str]) -> IndicatorsPart:
    """``indicators`` per class key, plus ``total_net_assets`` / ``nav_per_unit`` and a period hint."""
    doc: IndicatorsPart = {}
    indicators: dict[str, ClassIndicators] = {}
    for pattern in (MAIN, REIT_OTHER):
        section = page.find(pattern)
        table = first_table(section)
        if section is None or table is None:
            continue
        try:
            _read_blocks(table, class_names, indicators)
        except ValueError as exc:
            raise ParseError(f"main indicators: {exc}", section=section.heading) from exc
        if pattern is MAIN:
            doc["indicator_period"] = _period_hint(table)
    if not indicators:
        return doc
    doc["indicators"] = indicators
    doc["total_net_assets"] = _pick(indicators, "net_assets_end")
    doc["nav_per_unit"] = _pick(indicators, "nav_per_unit_end")
    return doc


def _read_blocks(table: Table, class_names: Sequence[str], out: dict[str, ClassIndicators]) -> None:
    grid = table.grid()
    headers: list[list[str]] = []
    columns: list[tuple[int, str]] = []
    for row, cls in zip(grid, table.row_classes, strict=True):
        if cls == "cc":
            headers.append(row)
            continue
        if headers:
            columns = _current_columns(headers, class_names)
            headers = []
        if not columns:
            columns = [(1, TOTAL)]
        _read_row(row, columns, out)


def _current_columns(headers: list[list[str]], class_names: Sequence[str]) -> list[tuple[int, str]]:
    """``(column, key)`` pairs of the current period for one block's header rows."""
    periods = headers[0]
    width = len(periods)
    if len(headers) > 1:
        names = headers[-1]
        pairs = [(j, class_key(names[j], class_names)) for j in range(1, width) if periods[j] == periods[1]]
        return _unambiguous(pairs)
    keys = [(j, class_key(periods[j], class_names)) for j in range(1, width)]
    if any(key != TOTAL for _, key in keys):
        return _unambiguous(keys)
    return [(1, TOTAL)]


def _unambiguous(pairs: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The pairs, unless several columns claim one key (class names unknown): a guess could mis-map a NAV."""
    keys = [key for _, key in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("class columns cannot be told apart")
    return pairs


def _read_row(row: Sequence[str], columns: list[tuple[int, str]], out: dict[str, ClassIndicators]) -> None:
    name = label(row[0])
    field = FIELDS.get(name) or FIELDS.get(_PCT_SUFFIX.sub("", name))
    for j, key in columns:
        if j >= len(row):
            continue
        value = parse_number(row[j])
        if value is None:
            continue
        target = out.setdefault(key, {})
        if field is None:
            target.setdefault("other", {})[name] = value
        elif field not in target:
            target[field] = value


def _pick(
    indicators: dict[str, ClassIndicators], field: Literal["net_assets_end", "nav_per_unit_end"]
) -> ByClass:
    return {key: values[field] for key, values in indicators.items() if field in values}


def _period_hint(table: Table) -> list[str] | None:
    """The first period in the first header row (quarterly ``报告期（… 至 …）``, a class column's period, or a
    young fund's partial year; later columns of an annual table are earlier years)."""
    first = table.rows[0] if table.rows else []
    for cell in first[1:]:
        period = parse_period(cell.text)
        if period:
            return [period[0].isoformat(), period[1].isoformat()]
    return None
