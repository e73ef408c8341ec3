"""The portfolio report (投资组合报告): every section of it, as ``fundcrawl.report/1`` keys.

One pass over the page's sections sends each portfolio heading to its parser. A key is present when the
page prints at least one of its sections, even with nothing in it (an empty list: "printed, nothing
held"); it is absent when the page has no such section. Wrapper headings (期末按公允价值…股票投资明细
above the level-3 所有股票投资明细) print no table and so add no rows.

Keys: ``asset_allocation`` + ``asset_allocation_basis`` + ``total_assets`` (REIT: ``reit_portfolio_total``,
the non-ABS portfolio its percentages are shares of), ``other_assets``, ``industry_allocation`` (+ ``industry_classification``),
``country_allocation``, ``top_stocks``, ``bond_types``, ``top_bonds``, ``top_abs``, ``precious_metals``,
``top_warrants``, ``top_derivatives``, ``top_funds``, ``convertible_bonds`` (in their conversion period),
``futures``, ``top_buys``, ``top_sells``,
``trade_totals``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from crawler.exceptions import ParseError
from crawler.parsing.dom import Page, Section
from crawler.parsing.sections import allocation, breakdown, holdings
from crawler.parsing.sections.allocation import parse_asset_allocation, parse_other_assets
from crawler.parsing.sections.breakdown import (
    parse_bond_types,
    parse_country_allocation,
    parse_industry_allocation,
    parse_industry_classification,
)
from crawler.parsing.sections.holdings import (
    parse_futures,
    parse_holdings,
    parse_trade_totals,
    parse_trades,
)

#: Chapter wrappers of the portfolio report that print no table of their own.
WRAPPERS = re.compile(
    r"^(投资组合报告|除基础设施资产支持证券之外的投资组合报告|报告期内(股票|权益)投资组合的重大变动)$"
)
HEADINGS: tuple[re.Pattern[str], ...] = (
    allocation.HEADINGS + breakdown.HEADINGS + holdings.HEADINGS + (WRAPPERS,)
)

_Parser = Callable[[Section], Sequence[Mapping[str, object]]]
#: (document key, heading pattern, section parser), in the order the keys appear in the document.
_LISTS: tuple[tuple[str, re.Pattern[str], _Parser], ...] = (
    (
        "industry_allocation",
        breakdown.DOMESTIC_INDUSTRY,
        partial(parse_industry_allocation, market="domestic"),
    ),
    ("industry_allocation", breakdown.HK_INDUSTRY, partial(parse_industry_allocation, market="hk_connect")),
    (
        "industry_allocation",
        breakdown.OVERSEAS_INDUSTRY,
        partial(parse_industry_allocation, market="overseas"),
    ),
    ("country_allocation", breakdown.COUNTRY_ALLOCATION, parse_country_allocation),
    ("top_stocks", holdings.STOCKS, parse_holdings),
    ("bond_types", breakdown.BOND_TYPES, parse_bond_types),
    ("top_bonds", holdings.BONDS, parse_holdings),
    ("top_abs", holdings.ABS, parse_holdings),
    ("precious_metals", holdings.PRECIOUS_METALS, parse_holdings),
    ("top_warrants", holdings.WARRANTS, parse_holdings),
    ("top_derivatives", holdings.DERIVATIVES, parse_holdings),
    ("top_funds", holdings.FUNDS, parse_holdings),
    ("convertible_bonds", holdings.CONVERTIBLES, parse_holdings),
    ("futures", holdings.FUTURES, parse_futures),
    ("top_buys", holdings.BUYS, parse_trades),
    ("top_sells", holdings.SELLS, parse_trades),
    ("other_assets", allocation.OTHER_ASSETS, parse_other_assets),
)
#: Industry tables whose note names the classification standard, by market.
_CLASSIFIED = ((breakdown.HK_INDUSTRY, "hk_connect"), (breakdown.OVERSEAS_INDUSTRY, "overseas"))
#: Cheap pre-filter: every portfolio heading contains one of these words.
_CANDIDATE = re.compile(r"组合|明细|分布|期货|构成|总额")


def parse_portfolio(page: Page, errors: dict[str, str] | None = None) -> dict[str, Any]:
    """The portfolio keys of one page.

    A present section that cannot be read raises ``ParseError(section=heading)``; when ``errors`` is
    given the error is recorded there instead (heading -> message), the key it feeds is left out rather
    than filled from its other sections, and every other key is still returned.
    """
    document: dict[str, Any] = {}
    failed: set[str] = set()
    for section in page.sections:
        if not _CANDIDATE.search(section.heading):
            continue
        try:
            _dispatch(section, document)
        except ParseError as exc:
            if errors is None:
                raise
            errors[exc.section or section.heading] = exc.message
            failed.update(_keys_of(section))
    for key in failed:
        document.pop(key, None)
    return document


def _dispatch(section: Section, document: dict[str, Any]) -> None:
    heading = section.heading
    if allocation.ASSET_ALLOCATION.match(heading):
        _put_allocation(document, parse_asset_allocation(section))
        return
    if holdings.TRADE_TOTALS.match(heading):
        document.setdefault("trade_totals", parse_trade_totals(section))
        return
    for key, pattern, parser in _LISTS:
        if pattern.match(heading):
            document.setdefault(key, []).extend(parser(section))
            _put_classification(section, document)
            return


def _put_classification(section: Section, document: dict[str, Any]) -> None:
    """``industry_classification[market]``: the standard the first Stock Connect/QDII note names."""
    for pattern, market in _CLASSIFIED:
        if pattern.match(section.heading):
            standard = parse_industry_classification(section)
            if standard is not None:
                document.setdefault("industry_classification", {}).setdefault(market, standard)


def _put_allocation(document: dict[str, Any], result: allocation.Allocation) -> None:
    """The first printed allocation table wins; a later repeat of the heading adds nothing."""
    if document.get("asset_allocation"):
        return
    document["asset_allocation"] = result.rows
    if result.basis_printed is not None:
        document["asset_allocation_basis"] = result.basis_printed
    if result.total_yuan is not None:
        document[result.total_key] = result.total_yuan


def _keys_of(section: Section) -> list[str]:
    heading = section.heading
    if allocation.ASSET_ALLOCATION.match(heading):
        return ["asset_allocation", "asset_allocation_basis", *allocation.TOTAL_KEYS.values()]
    if holdings.TRADE_TOTALS.match(heading):
        return ["trade_totals"]
    return [key for key, pattern, _ in _LISTS if pattern.match(heading)][:1]
