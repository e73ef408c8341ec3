"""No silent empties: a data section the page prints but the parser did not read is reported, not dropped.

A document key that is absent means "the page has no such section". So when a heading is on the page and
its span holds a table with content, yet none of the keys that section feeds made it into the document and
no section error explains why, the parser records the heading as unread ("table printed but not read").
Sections printed with only a note (``注：无。``) or an empty table are "printed, nothing held", not unread.

Only keys the document lacks are looked at, so on a page the parser reads fully this costs one pass over
a short list of patterns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from crawler.models import ReportDocument
from crawler.parsing.dom import Page, Section
from crawler.parsing.sections import (
    allocation,
    audit,
    basic_info,
    breakdown,
    distributions,
    holders,
    holdings,
    indicators,
    investors,
    managers,
    performance,
    reit,
    shares,
    statements,
    top_holders,
)

UNREAD = "table printed but not read"

#: (heading pattern, document keys the section feeds): the section is read when any of them is present.
FEEDS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (basic_info.BASIC, ("fund_code", "short_name")),
    (indicators.MAIN, ("indicators",)),
    (indicators.REIT_OTHER, ("indicators",)),
    (shares.SECTION, ("share_changes",)),
    (performance.SECTION, ("nav_performance",)),
    (holders.SECTION, ("holders",)),
    (top_holders.LISTED, ("listed_holders",)),
    (top_holders.REIT_TRADABLE, ("reit_top_holders",)),
    (top_holders.REIT_NON_TRADABLE, ("reit_top_holders",)),
    (distributions.SECTION, ("distributions",)),
    (statements.BALANCE, ("balance_sheet",)),
    (statements.INCOME, ("income_statement",)),
    (managers.SECTION, ("managers",)),
    (investors.SECTION, ("single_investors_over_20pct",)),
    (audit.SECTION, ("audited", "audit_opinion", "audit_report_no")),
    (reit.DISTRIBUTABLE, ("reit",)),
    (reit.DISTRIBUTED, ("reit",)),
    (reit.CALCULATION, ("reit",)),
    (allocation.ASSET_ALLOCATION, ("asset_allocation",)),
    (allocation.OTHER_ASSETS, ("other_assets",)),
    (breakdown.DOMESTIC_INDUSTRY, ("industry_allocation",)),
    (breakdown.HK_INDUSTRY, ("industry_allocation",)),
    (breakdown.OVERSEAS_INDUSTRY, ("industry_allocation",)),
    (breakdown.COUNTRY_ALLOCATION, ("country_allocation",)),
    (breakdown.BOND_TYPES, ("bond_types",)),
    (holdings.STOCKS, ("top_stocks",)),
    (holdings.BONDS, ("top_bonds",)),
    (holdings.ABS, ("top_abs",)),
    (holdings.PRECIOUS_METALS, ("precious_metals",)),
    (holdings.WARRANTS, ("top_warrants",)),
    (holdings.DERIVATIVES, ("top_derivatives",)),
    (holdings.FUNDS, ("top_funds",)),
    (holdings.CONVERTIBLES, ("convertible_bonds",)),
    (holdings.FUTURES, ("futures",)),
    (holdings.BUYS, ("top_buys",)),
    (holdings.SELLS, ("top_sells",)),
    (holdings.TRADE_TOTALS, ("trade_totals",)),
)


def unread_sections(page: Page, document: ReportDocument, errors: Mapping[str, str]) -> dict[str, str]:
    """Headings whose table has content but fed no key, and no recorded error says why."""
    missing = [pattern for pattern, keys in FEEDS if not any(k in document for k in keys)]
    if not missing:
        return {}
    unread: dict[str, str] = {}
    for section in page.sections:
        heading = section.heading
        if heading in errors or heading in unread or not section.tables:
            continue
        if any(p.search(heading) for p in missing) and _has_content(section):
            unread[heading] = UNREAD
    return unread


def _has_content(section: Section) -> bool:
    """A table with at least one non-empty cell below its first row (a header-only table is empty)."""
    return any(cell.text for table in section.tables for row in table.rows[1:] for cell in row)
