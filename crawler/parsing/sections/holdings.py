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
from typing import Any, Literal

from crawler.exceptions import ParseError
from crawler.models import FuturesRow, Holding, Trade, TradeTotals
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
_FUTURES_VALUES = ("position", "contract_value_yuan", "fair_value_change_yuan")
_TRADE_VALUES = ("amount_yuan", "pct_of_beginning_nav")


def parse_holdings(section: Section) -> list[Holding]:
    """``[{rank, code, name, quantity, fair_value_yuan, pct_of_nav, ...}]`` for any ranked holdings table;
    extra columns the table prints (QDII, FOF, derivatives) become extra keys, ``sleeve`` on split tables."""
    rows = [_holding(r) for r in _records(section, _HOLDING_COLUMNS, ("pct_of_nav",), _VALUES)]
    sleeve = sleeve_of(section.heading)
    if sleeve is not None:
        for row in rows:
            row["sleeve"] = sleeve
    return rows


def parse_futures(section: Section) -> list[FuturesRow]:
    """``[{code, name, position, contract_value_yuan, fair_value_change_yuan}]`` without summary rows."""
    return [_futures_row(r) for r in _records(section, _FUTURES_COLUMNS, ("code", "position"), _FUTURES_VALUES)]


def parse_trades(section: Section) -> list[Trade]:
    """``[{rank, code, name, amount_yuan, pct_of_beginning_nav}]``: cumulative buys or sells."""
    rows = [_trade(r) for r in _records(section, _TRADE_COLUMNS, ("amount_yuan",), _TRADE_VALUES)]
    sleeve = sleeve_of(section.heading)
    if sleeve is not None:
        for row in rows:
            row["sleeve"] = sleeve
    return rows


def parse_trade_totals(section: Section) -> TradeTotals:
    """``{buy_cost_yuan, sell_income_yuan}`` from the two label | amount rows (买入…总额, 卖出…总额)."""
    totals: TradeTotals = {}
    for table in section.tables:
        for row in table.rows:
            label = row[0].text if row else ""
            key: Literal["buy_cost_yuan", "sell_income_yuan"] | None = (
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


def _records(
    section: Section, columns: tuple[Column, ...], required: tuple[str, ...], values: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The records of every table with the signature that hold at least one of ``values``."""
    records: list[dict[str, Any]] = []
    for grid, layout in tables_with(section, columns, required):
        records.extend(r for r in read_records(section, grid, layout) if has_values(r, values))
    return records


def _holding(record: dict[str, Any]) -> Holding:
    """The six keys every holding has (None when the table has no such column), then the extra columns in
    printed order."""
    row: Holding = {
        "rank": record.get("rank"),
        "code": record.get("code"),
        "name": record.get("name"),
        "quantity": record.get("quantity"),
        "fair_value_yuan": record.get("fair_value_yuan"),
        "pct_of_nav": record.get("pct_of_nav"),
    }
    for key, value in record.items():
        match key:
            case "name_en":
                row["name_en"] = value
            case "category":
                row["category"] = value
            case "fund_type":
                row["fund_type"] = value
            case "operation_mode":
                row["operation_mode"] = value
            case "manager":
                row["manager"] = value
            case "exchange":
                row["exchange"] = value
            case "country":
                row["country"] = value
            case "amortised_cost_yuan":
                row["amortised_cost_yuan"] = value
            case "related_party":
                row["related_party"] = value
    return row


def _futures_row(record: dict[str, Any]) -> FuturesRow:
    """The five keys every contract has, then the risk note where the table prints one."""
    row: FuturesRow = {
        "code": record.get("code"),
        "name": record.get("name"),
        "position": record.get("position"),
        "contract_value_yuan": record.get("contract_value_yuan"),
        "fair_value_change_yuan": record.get("fair_value_change_yuan"),
    }
    if "risk_note" in record:
        row["risk_note"] = record["risk_note"]
    return row


def _trade(record: dict[str, Any]) -> Trade:
    """The five keys every trade has, then the English name where a QDII table prints one."""
    row: Trade = {
        "rank": record.get("rank"),
        "code": record.get("code"),
        "name": record.get("name"),
        "amount_yuan": record.get("amount_yuan"),
        "pct_of_beginning_nav": record.get("pct_of_beginning_nav"),
    }
    if "name_en" in record:
        row["name_en"] = record["name_en"]
    return row
