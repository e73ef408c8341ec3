"""Holdings tables: stocks, bonds, ABS, precious metals, warrants, derivatives, funds, futures, trades.

Every row of a table is kept: annual and interim reports list all holdings, and a "top ten" table can
have 11 rows where the A- and H-share lines of one issuer share a rank.
Columns are found by header text, so one reader covers the 6-column A-share table, the 9-column QDII
table (``name_en``, ``exchange``, ``country``), the 8-column FOF fund table (``operation_mode``,
``related_party``), the 7-column QDII fund table without a code, and money-market bond tables whose
value column is ``摊余成本`` (read into ``amortised_cost_yuan``). Codes stay strings exactly as printed.
"""

from __future__ import annotations

import re
from typing import Any

from crawler.exceptions import ParseError
from crawler.parsing.dom import Section
from crawler.parsing.sections.columns import Column, col, has_values, read_records, sleeve_of, tables_with
from crawler.parsing.values import parse_number

_RANKED = r"^(指数投资|积极投资)?(报告期末|期末)?(指数投资|积极投资)?按(公允价值|摊余成本)占基金资产净值比例大小(排序|排名)的"
_TOP = r"(前[一二三四五六七八九十]+名|所有)?"


def _ranked(kind: str) -> re.Pattern[str]:
    return re.compile(_RANKED + _TOP + kind + r"投资明细$")


STOCKS = _ranked("(股票|权益)")
BONDS = _ranked("债券")
ABS = _ranked("资产支持证券")
PRECIOUS_METALS = _ranked("贵金属")
WARRANTS = _ranked("权证")
DERIVATIVES = _ranked("金融衍生品")
FUNDS = _ranked("基金")
CONVERTIBLES = re.compile(r"^(报告期末|期末)持有的处于转股期的可转换债券明细$")
FUTURES = re.compile(r"^期末基金持有的期货合约情况$|^(报告期末)?本基金投资的(股指|国债)期货持仓和损益明细$")
BUYS = re.compile(
    r"^(指数投资|积极投资)?累计买入金额超出期初基金资产净值2[%％]或前20名的(股票|权益投资)明细$"
)
SELLS = re.compile(
    r"^(指数投资|积极投资)?累计卖出金额超出期初基金资产净值2[%％]或前20名的(股票|权益投资)明细$"
)
TRADE_TOTALS = re.compile(
    r"^买入(股票|权益投资)的成本总额及卖出(股票|权益投资)的收入总额$|^(股票|权益投资)的买入成本总额及卖出收入总额$"
)
HEADINGS: tuple[re.Pattern[str], ...] = (
    TRADE_TOTALS,
    STOCKS,
    BONDS,
    ABS,
    PRECIOUS_METALS,
    WARRANTS,
    DERIVATIVES,
    FUNDS,
    CONVERTIBLES,
    FUTURES,
    BUYS,
    SELLS,
)

_HOLDING_COLUMNS: tuple[Column, ...] = (
    col("rank", r"^序号$", "int"),
    col("name_en", r"名称[（(]英文[)）]"),
    col("name", r"名称[（(]中文[)）]"),
    col("category", r"^衍生品类别$"),
    col("code", r"代码$"),
    col("name", r"名称$"),
    col("fund_type", r"^基金类型$"),
    col("operation_mode", r"^运作方式$"),
    col("manager", r"^管理人$"),
    col("exchange", r"^所在证券市场$|交易所$"),
    col("country", r"^所属国家|^国家[（(]地区[）)]$"),
    col("quantity", r"数量|持有份额", "number"),
    col("fair_value_yuan", r"^公允价值(?!变动)", "number"),
    col("amortised_cost_yuan", r"^摊余成本", "number"),
    col("pct_of_nav", r"^占基金资产净值比例", "number"),
    col("related_party", r"^是否属于基金管理人", "flag"),
)
_FUTURES_COLUMNS: tuple[Column, ...] = (
    col("code", r"^代码$"),
    col("name", r"^名称$"),
    col("position", r"^持仓量", "number"),
    col("contract_value_yuan", r"^合约市值", "number"),
    col("fair_value_change_yuan", r"^公允价值变动", "number"),
    col("risk_note", r"^风险"),
)
_TRADE_COLUMNS: tuple[Column, ...] = (
    col("rank", r"^序号$", "int"),
    col("name_en", r"名称[（(]英文[)）]"),
    col("code", r"代码$"),
    col("name", r"名称$"),
    col("amount_yuan", r"累计(买入|卖出)金额", "number"),
    col("pct_of_beginning_nav", r"^占期初基金资产净值比例", "number"),
)
_VALUES = ("quantity", "fair_value_yuan", "amortised_cost_yuan", "pct_of_nav")
#: The issue-3 contract keys, present on every holding row.
_HOLDING_KEYS = ("rank", "code", "name", "quantity", "fair_value_yuan", "pct_of_nav")


def parse_holdings(section: Section) -> list[dict[str, Any]]:
    """``[{rank, code, name, quantity, fair_value_yuan, pct_of_nav, ...}]`` for any ranked holdings table;
    extra columns the table prints (QDII, FOF, derivatives) become extra keys, ``sleeve`` on split tables."""
    rows = _rows(section, _HOLDING_COLUMNS, ("pct_of_nav",), _VALUES, _HOLDING_KEYS)
    sleeve = sleeve_of(section.heading)
    if sleeve is not None:
        for row in rows:
            row["sleeve"] = sleeve
    return rows


def parse_futures(section: Section) -> list[dict[str, Any]]:
    """``[{code, name, position, contract_value_yuan, fair_value_change_yuan}]`` without summary rows."""
    values = ("position", "contract_value_yuan", "fair_value_change_yuan")
    return _rows(section, _FUTURES_COLUMNS, ("code", "position"), values, ("code", "name") + values)


def parse_trades(section: Section) -> list[dict[str, Any]]:
    """``[{rank, code, name, amount_yuan, pct_of_beginning_nav}]``: cumulative buys or sells."""
    values = ("amount_yuan", "pct_of_beginning_nav")
    rows = _rows(section, _TRADE_COLUMNS, ("amount_yuan",), values, ("rank", "code", "name") + values)
    sleeve = sleeve_of(section.heading)
    if sleeve is not None:
        for row in rows:
            row["sleeve"] = sleeve
    return rows


def parse_trade_totals(section: Section) -> dict[str, float | None]:
    """``{buy_cost_yuan, sell_income_yuan}`` from the two label | amount rows (买入…总额, 卖出…总额)."""
    totals: dict[str, float | None] = {}
    for table in section.tables:
        for row in table.rows:
            label = row[0].text if row else ""
            key = (
                "buy_cost_yuan"
                if label.startswith("买入")
                else "sell_income_yuan"
                if label.startswith("卖出")
                else None
            )
            if key is None or len(row) < 2:
                continue
            try:
                totals[key] = parse_number(row[-1].text)
            except ValueError as exc:
                raise ParseError(f"unreadable amount: {exc}", section=section.heading) from exc
    if section.tables and len(totals) != 2:
        raise ParseError("no 买入/卖出 total rows", section=section.heading)
    return totals


def _rows(
    section: Section,
    columns: tuple[Column, ...],
    required: tuple[str, ...],
    values: tuple[str, ...],
    keys: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Rows with at least one value; ``keys`` always present (None when the table has no such column),
    then whatever else the table printed."""
    rows = []
    for grid, layout in tables_with(section, columns, required):
        for record in read_records(section, grid, layout):
            if has_values(record, values):
                row = {k: record.get(k) for k in keys}
                row.update((k, v) for k, v in record.items() if k not in row)
                rows.append(row)
    return rows
