"""Top-ten holders: 期末上市基金前十名持有人 (per class for listed funds) and the REIT 流通/非流通 tables.

Unlisted classes print a header-only table (an empty list: printed, nobody listed). REIT tables put the
current block under a ``本期末`` header and may add a prior block: only the current one is read. The 合计
row is not a holder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypedDict

from crawler.exceptions import ParseError
from crawler.models import ListedHolder
from crawler.parsing.dom import Page, Section
from crawler.parsing.sections.tables import suffix_class
from crawler.parsing.values import clean_text, parse_int, parse_number

LISTED = re.compile(r"^期末上市基金前十名持有人(?P<cls>.*)$")
REIT_TRADABLE = re.compile(r"^基金前十名流通份额持有人$")
REIT_NON_TRADABLE = re.compile(r"^基金前十名非流通份额持有人$")
HEADINGS: tuple[re.Pattern[str], ...] = (LISTED, REIT_TRADABLE, REIT_NON_TRADABLE)


class TopHoldersPart(TypedDict, total=False):
    """The document keys the top-holder tables fill."""

    listed_holders: dict[str, list[ListedHolder]]
    reit_top_holders: dict[str, list[ListedHolder]]


def parse_top_holders(page: Page, class_names: Sequence[str]) -> TopHoldersPart:
    """``listed_holders`` by class key and/or ``reit_top_holders`` {tradable, non_tradable}."""
    doc: TopHoldersPart = {}
    listed: dict[str, list[ListedHolder]] = {}
    for section in page.find_all(LISTED):
        m = LISTED.match(section.heading)
        if m is not None and section.tables:
            listed[suffix_class(m["cls"], class_names)] = _holders(section)
    if listed:
        doc["listed_holders"] = listed
    reit: dict[str, list[ListedHolder]] = {}
    for key, pattern in (("tradable", REIT_TRADABLE), ("non_tradable", REIT_NON_TRADABLE)):
        found = page.find(pattern)
        if found is not None and found.tables:
            reit[key] = _holders(found)
    if reit:
        doc["reit_top_holders"] = reit
    return doc


def _holders(section: Section) -> list[ListedHolder]:
    """Rows of the first (current) block: ``{rank, name, shares, pct}``."""
    table = section.tables[0]
    rows: list[ListedHolder] = []
    try:
        for row, cls in zip(table.rows, table.row_classes, strict=True):
            if cls == "cc":
                if rows:
                    break
                continue
            cells = [clean_text(c.text) for c in row]
            if len(cells) < 4 or cells[0] == "合计" or not cells[1]:
                continue
            rows.append(
                {
                    "rank": parse_int(cells[0]),
                    "name": cells[1],
                    "shares": parse_number(cells[2]),
                    "pct": parse_number(cells[3]),
                }
            )
    except ValueError as exc:
        raise ParseError(f"top holders: {exc}", section=section.heading) from exc
    return rows
