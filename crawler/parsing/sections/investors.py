"""Single investors holding 20% or more (报告期内单一投资者持有基金份额比例达到或超过20%的情况).

Two header rows; one row per investor and period, ``-`` when there is none; the table ends with 产品特有风险
rows spanning all columns. The period prints as ``20240101-20241231``. The investor-type cell spans the rows
of its investors (rowspan), so rows are read from the span-expanded grid: reading raw cells loses every
investor after the first. Feeder-fund targets print the holder itself as the type (``目标基金的联接基金``,
a custodian's product name), kept as printed. A data row that is not an 8-column investor row is an
unknown layout, reported rather than skipped (an empty list would claim "nobody held 20%").
"""

from __future__ import annotations

import re
from typing import TypedDict

from crawler.exceptions import ParseError
from crawler.models import SingleInvestor
from crawler.parsing.dom import Page
from crawler.parsing.sections.tables import first_table
from crawler.parsing.values import (
    clean_text,
    parse_int,
    parse_number,
    parse_percent,
    parse_period,
    parse_periods,
)

SECTION = re.compile(r"^报告期内单一投资者持有基金份额比例达到或超过20%的情况$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)

#: The row that starts the fund's risk text below the investor rows.
_RISK = "产品特有风险"
_EMPTY = ("", "-", "无", "无。")


class InvestorsPart(TypedDict, total=False):
    """The document key the single-investor table fills."""

    single_investors_over_20pct: list[SingleInvestor]


def parse_single_investors(page: Page) -> InvestorsPart:
    """``single_investors_over_20pct``: ``[{investor_type, seq, period_start, period_end, beginning,
    subscriptions, redemptions, ending, pct}]``; an empty list when the table prints only dashes."""
    section = page.find(SECTION)
    table = first_table(section)
    if section is None or table is None:
        return {}
    items: list[SingleInvestor] = []
    try:
        for row, cls in zip(table.grid(), table.row_classes, strict=True):
            cells = [clean_text(c) for c in row]
            if cls == "cc" or cells[0] == "投资者类别":
                continue
            if cells[0] == _RISK:
                break
            if all(c in _EMPTY for c in cells):
                continue
            if len(cells) != 8:
                raise ValueError(f"row of {len(cells)} cells, 8 expected: {cells[0][:20]}")
            if cells[1] not in _EMPTY:
                items.append(_investor(cells))
    except ValueError as exc:
        raise ParseError(f"single investors: {exc}", section=section.heading) from exc
    return {"single_investors_over_20pct": items}


def _investor(cells: list[str]) -> SingleInvestor:
    period = parse_period(cells[2])
    item: SingleInvestor = {
        "investor_type": cells[0],
        "seq": parse_int(cells[1]),
        "period_start": period[0].isoformat() if period else None,
        "period_end": period[1].isoformat() if period else None,
        "beginning": parse_number(cells[3]),
        "subscriptions": parse_number(cells[4]),
        "redemptions": parse_number(cells[5]),
        "ending": parse_number(cells[6]),
        "pct": parse_percent(cells[7]),
    }
    # One cell may print several intervals (``20240305-20240311 20240314-20241112``): the first fills
    # period_start/period_end as before, and ``periods`` keeps every one rather than dropping the rest.
    ranges = parse_periods(cells[2])
    if len(ranges) > 1:
        item["periods"] = [[start.isoformat(), end.isoformat()] for start, end in ranges]
    return item
