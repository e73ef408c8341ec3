"""Assemble section results into the public ``fundcrawl.report/1`` document.

The rules that combine sections live here: the full fund name is 基金名称 when printed, else the title
minus its period suffix; the fund-level net assets of a class fund come from the balance sheet
(净资产合计) because the indicator table leaves that column blank; the period start comes from the
quarterly indicator header or the income-statement heading (``本报告期：…至…``).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from crawler.models import ByClass, PortfolioPart, ReportDocument
from crawler.parsing.sections.audit import AuditPart
from crawler.parsing.sections.basic_info import BasicPart
from crawler.parsing.sections.distributions import DistributionsPart
from crawler.parsing.sections.holders import HoldersPart
from crawler.parsing.sections.indicators import IndicatorsPart
from crawler.parsing.sections.investors import InvestorsPart
from crawler.parsing.sections.managers import ManagersPart
from crawler.parsing.sections.metadata import MetadataPart
from crawler.parsing.sections.performance import PerformancePart
from crawler.parsing.sections.profile import ProfilePart
from crawler.parsing.sections.reit import ReitPart
from crawler.parsing.sections.shares import SharesPart
from crawler.parsing.sections.statements import StatementsPart
from crawler.parsing.sections.tables import TOTAL
from crawler.parsing.sections.top_holders import TopHoldersPart
from crawler.parsing.sections.unit_value import StatedNavPart

#: Top-level keys in the order the document prints them (the others follow in the order their parts add
#: them); every document has them, None where the page does not print one.
LEADING_KEYS = (
    "schema",
    "parser_version",
    "fund_code",
    "fund_name",
    "report_title",
    "report_kind",
    "report_year",
    "period_start",
    "period_end",
    "send_date",
    "manager",
    "custodian",
)


class ReportParts(TypedDict):
    """Every section parser's part of one page (an unreadable or absent section's part is empty; a page
    without a readable banner has no metadata)."""

    metadata: MetadataPart | None
    basic: BasicPart
    profile: ProfilePart
    indicators: IndicatorsPart
    share_changes: SharesPart
    performance: PerformancePart
    holders: HoldersPart
    top_holders: TopHoldersPart
    distributions: DistributionsPart
    stated_nav: StatedNavPart
    statements: StatementsPart
    managers: ManagersPart
    investors: InvestorsPart
    reit: ReitPart
    audit: AuditPart
    portfolio: PortfolioPart


class _Draft(ReportDocument, total=False):
    """The document while it is assembled: the values the parts print for the assembler's rules come along
    with their parts and leave before the document is returned."""

    fund_name_printed: str
    manager_printed: str
    custodian_printed: str
    statement_period: list[str]


def assemble(parts: ReportParts, *, schema: str, parser_version: str) -> ReportDocument:
    """One document from the per-section results (absent sections simply add no keys).

    Each section parser returns its own part type, which mypy checks against the row types of
    :class:`ReportDocument`, and the parser checks each part's values against the same types at run time.
    """
    meta, basic, profile = parts["metadata"], parts["basic"], parts["profile"]
    doc: _Draft = {
        "schema": schema,
        "parser_version": parser_version,
        "fund_code": None,
        "fund_name": basic.get("fund_name_printed") or (meta["fund_name"] if meta else None),
        "report_title": meta["report_title"] if meta else None,
        "report_kind": meta["report_kind"] if meta else None,
        "report_year": meta["report_year"] if meta else None,
        "period_start": _period_start(meta, parts["indicators"], parts["statements"]),
        "period_end": meta["period_end"] if meta else None,
        "send_date": meta["send_date"] if meta else None,
        "manager": (meta["manager"] if meta else None) or basic.get("manager_printed") or profile.get("manager_printed"),
        "custodian": (meta["custodian"] if meta else None)
        or basic.get("custodian_printed")
        or profile.get("custodian_printed"),
    }
    if meta and "compile_date" in meta:
        doc["compile_date"] = meta["compile_date"]
    doc = _described(doc, basic, profile)
    _figures(doc, parts)
    doc = {
        **doc,
        **parts["share_changes"],
        **parts["performance"],
        **parts["holders"],
        **parts["top_holders"],
        **parts["distributions"],
        **parts["stated_nav"],
        **parts["statements"],
        **parts["managers"],
        **parts["investors"],
        **parts["reit"],
        **parts["audit"],
        **parts["portfolio"],
    }
    _reit_total_assets(doc)
    doc.pop("fund_name_printed", None)
    doc.pop("manager_printed", None)
    doc.pop("custodian_printed", None)
    doc.pop("statement_period", None)
    return doc


#: The description keys a basic-info table may print blank (None), which a product profile then fills.
_DATES: tuple[Literal["contract_effective_date", "listing_date"], ...] = ("contract_effective_date", "listing_date")


def _described(doc: _Draft, basic: BasicPart, profile: ProfilePart) -> _Draft:
    """The fund's description: the basic-info table's fields first, then a product profile's where the table
    prints none (or a blank date); the basic-info ``ending_shares`` joins the figures instead."""
    doc = {**doc, **basic, **profile, **basic}
    for key in _DATES:
        if doc.get(key) is None and profile.get(key) is not None:
            doc[key] = profile.get(key)
    doc.pop("ending_shares", None)
    return doc


def _reit_total_assets(doc: _Draft) -> None:
    """REIT total assets are 期末基金总资产 (their allocation table covers only the non-ABS portfolio)."""
    fund = doc.get("indicators", {}).get(TOTAL, {})
    if "total_assets" not in doc and doc.get("reit") is not None and "total_assets_end" in fund:
        doc["total_assets"] = fund["total_assets_end"]


def _period_start(
    meta: MetadataPart | None, indicators: IndicatorsPart, statements: StatementsPart
) -> str | None:
    """Quarterly: the indicator header; annual/interim/REIT: the income-statement period."""
    period_end = meta["period_end"] if meta else None
    for period in (statements.get("statement_period"), indicators.get("indicator_period")):
        if period and (period_end in (None, period[1])):
            return str(period[0])
    return None


def _figures(doc: _Draft, parts: ReportParts) -> None:
    """``total_net_assets``, ``nav_per_unit``, ``ending_shares`` and ``indicators`` keyed by class."""
    indicators = parts["indicators"]
    net_assets: ByClass = dict(indicators.get("total_net_assets", {}))
    balance = parts["statements"].get("balance_sheet", {})
    if TOTAL not in net_assets and net_assets and balance.get("净资产合计") is not None:
        net_assets[TOTAL] = balance["净资产合计"]
    shares: ByClass = dict(parts["basic"].get("ending_shares", {}))
    for key, change in parts["share_changes"].get("share_changes", {}).items():
        if change.get("ending") is not None:
            shares.setdefault(key, change["ending"])
    if net_assets:
        doc["total_net_assets"] = net_assets
    if indicators.get("nav_per_unit"):
        doc["nav_per_unit"] = indicators["nav_per_unit"]
    if shares:
        doc["ending_shares"] = shares
    if indicators.get("indicators"):
        doc["indicators"] = indicators["indicators"]
