"""Profit distributions of the past three years (过去三年基金的利润分配情况), per class heading.

Class funds repeat the heading with the class appended after a space (``… A``); young funds print
过去二年 / 自基金合同生效以来. Years without a distribution print blank cells and are left out, so a
printed table with no distribution is an empty list. The 合计 row is not a year.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypedDict

from crawler.exceptions import ParseError
from crawler.models import Distribution
from crawler.parsing.dom import Page, Section
from crawler.parsing.sections.tables import suffix_class
from crawler.parsing.values import clean_text, parse_number

SECTION = re.compile(r"^(?:过去[一二三]年|自基金合同生效以来)基金的利润分配情况(?P<cls>.*)$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)


class DistributionsPart(TypedDict, total=False):
    """The document key the distribution tables fill."""

    distributions: dict[str, list[Distribution]]


def parse_distributions(page: Page, class_names: Sequence[str]) -> DistributionsPart:
    """``distributions``: ``{key: [{year, per_10_units, cash, reinvested, total, note}]}`` or {}."""
    out: dict[str, list[Distribution]] = {}
    for section in page.find_all(SECTION):
        m = SECTION.match(section.heading)
        if m is not None and section.tables:
            out.setdefault(suffix_class(m["cls"], class_names), []).extend(_rows(section))
    return {"distributions": out} if out else {}


def _rows(section: Section) -> list[Distribution]:
    rows: list[Distribution] = []
    try:
        for row in section.tables[0].data_rows():
            cells = [clean_text(c.text) for c in row]
            if cells[0] == "合计" or all(c in ("", "-") for c in cells):
                continue
            if len(cells) < 5:
                raise ValueError(f"row of {len(cells)} cells, 5 or 6 expected: {cells[0][:20]}")
            per_10_units, cash, reinvested, total = (parse_number(v) for v in cells[1:5])
            if any(v is not None for v in (per_10_units, cash, reinvested, total)):
                note = cells[5] if len(cells) > 5 and cells[5] not in ("", "-") else None
                rows.append(
                    {
                        "year": cells[0],
                        "per_10_units": per_10_units,
                        "cash": cash,
                        "reinvested": reinvested,
                        "total": total,
                        "note": note,
                    }
                )
    except ValueError as exc:
        raise ParseError(f"distributions: {exc}", section=section.heading) from exc
    return rows
