"""Single investors holding 20% or more (报告期内单一投资者持有基金份额比例达到或超过20%的情况).

Two header rows; one row per investor type (机构 / 个人) and period, ``-`` when there is none; the table
ends with 产品特有风险 rows spanning all columns. The period prints as ``20240101-20241231``.
"""

from __future__ import annotations

import re
from typing import Any

from crawler.exceptions import ParseError
from crawler.parsing.dom import Page
from crawler.parsing.sections.tables import first_table
from crawler.parsing.values import clean_text, parse_int, parse_number, parse_percent, parse_period

SECTION = re.compile(r"^报告期内单一投资者持有基金份额比例达到或超过20%的情况$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)

_INVESTOR_TYPES = ("机构", "个人")


def parse_single_investors(page: Page) -> dict[str, Any]:
    """``single_investors_over_20pct``: ``[{investor_type, seq, period_start, period_end, beginning,
    subscriptions, redemptions, ending, pct}]``; an empty list when the table prints only dashes."""
    section = page.find(SECTION)
    table = first_table(section)
    if section is None or table is None:
        return {}
    items = []
    try:
        for row in table.data_rows():
            cells = [clean_text(c.text) for c in row]
            if len(cells) == 8 and cells[0] in _INVESTOR_TYPES and cells[1] not in ("", "-"):
                items.append(_investor(cells))
    except ValueError as exc:
        raise ParseError(f"single investors: {exc}", section=section.heading) from exc
    return {"single_investors_over_20pct": items}


def _investor(cells: list[str]) -> dict[str, Any]:
    period = parse_period(cells[2])
    return {
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
