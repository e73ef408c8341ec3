"""Balance sheet and income statement, current-period column, plus the report period from the heading.

The statement table does not sit under its own heading but under the sub-headings that follow it
(``会计主体：…``, ``报告截止日：…``, ``本报告期：…至…``). REIT pages add 合并/个别 sub-headings; the
consolidated (合并) table comes first and is the one read.
Labels repeat under different parents (``其中：债券投资``), so the first occurrence of a label wins.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict

from crawler.exceptions import ParseError
from crawler.parsing.dom import Page, Section, Table
from crawler.parsing.values import clean_text, parse_number, parse_period

BALANCE = re.compile(r"^资产负债表$")
INCOME = re.compile(r"^利润表$")
_SUBHEADING = re.compile(r"^(?:会计主体：|报告截止日：|本报告期：|合并(?:资产负债表|利润表)$)")
PERIOD = re.compile(r"^本报告期：")
HEADINGS: tuple[re.Pattern[str], ...] = (BALANCE, INCOME, _SUBHEADING)
_STATEMENTS: tuple[tuple[Literal["balance_sheet", "income_statement"], re.Pattern[str]], ...] = (
    ("balance_sheet", BALANCE),
    ("income_statement", INCOME),
)


class StatementsPart(TypedDict, total=False):
    """The document keys the statements fill, and the income statement's period (ISO start and end) for the
    assembler."""

    balance_sheet: dict[str, float | None]
    income_statement: dict[str, float | None]
    statement_period: list[str]


def parse_statements(page: Page) -> StatementsPart:
    """``balance_sheet`` / ``income_statement`` as ``label -> current value``, and ``statement_period``."""
    doc: StatementsPart = {}
    for key, pattern in _STATEMENTS:
        heading = page.find(pattern)
        table = _statement_table(page, heading) if heading is not None else None
        if heading is None or table is None:
            continue
        try:
            doc[key] = _current_column(table)
        except ValueError as exc:
            raise ParseError(f"{key}: {exc}", section=heading.heading) from exc
    period_heading = page.find(PERIOD)
    period = parse_period(period_heading.heading) if period_heading is not None else None
    if period is not None:
        doc["statement_period"] = [period[0].isoformat(), period[1].isoformat()]
    return doc


def _statement_table(page: Page, heading: Section) -> Table | None:
    """The first table under the heading or the sub-headings directly after it."""
    for section in page.sections[heading.index :]:
        if section is not heading and not _SUBHEADING.search(section.heading):
            return None
        if section.tables:
            return section.tables[0]
    return None


def _current_column(table: Table) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for row, cls in zip(table.grid(), table.row_classes, strict=True):
        name = clean_text(row[0])
        if cls == "cc" or len(row) < 2 or not name or name.endswith("："):
            continue
        out.setdefault(name, parse_number(row[1]))
    return out
