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
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from crawler.exceptions import ParseError
from crawler.models import (
    BondTypeRow,
    CountryRow,
    FuturesRow,
    Holding,
    IndustryRow,
    OtherAsset,
    PortfolioPart,
    Trade,
    TradeTotals,
)
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


_Row = TypeVar("_Row", OtherAsset, IndustryRow, CountryRow, BondTypeRow, Holding, FuturesRow, Trade)
#: Puts what one section read into the part; puts run in page order once every section has been read.
_Put = Callable[[PortfolioPart], None]


@dataclass(frozen=True, slots=True)
class _Rows(Generic[_Row]):
    """A list key of the part: the headings that feed it, their section parser, and the part's list for the key
    (created empty when absent), which names the key so mypy checks the parser's rows against it."""

    pattern: re.Pattern[str]
    parse: Callable[[Section], list[_Row]]
    rows: Callable[[PortfolioPart], list[_Row]]

    def read(self, section: Section) -> _Put:
        found = self.parse(section)
        return lambda part: self.rows(part).extend(found)

    @property
    def key(self) -> str:
        """The key ``rows`` names (what a section of this kind feeds, dropped when one of them is unreadable)."""
        probe: PortfolioPart = {}
        self.rows(probe)
        return next(iter(probe))


_ListKind = (
    _Rows[IndustryRow]
    | _Rows[CountryRow]
    | _Rows[BondTypeRow]
    | _Rows[Holding]
    | _Rows[FuturesRow]
    | _Rows[Trade]
    | _Rows[OtherAsset]
)
#: The list keys, in the order their heading patterns are tried.
_LISTS: tuple[_ListKind, ...] = (
    _Rows(
        breakdown.DOMESTIC_INDUSTRY,
        partial(parse_industry_allocation, market="domestic"),
        lambda part: part.setdefault("industry_allocation", []),
    ),
    _Rows(
        breakdown.HK_INDUSTRY,
        partial(parse_industry_allocation, market="hk_connect"),
        lambda part: part.setdefault("industry_allocation", []),
    ),
    _Rows(
        breakdown.OVERSEAS_INDUSTRY,
        partial(parse_industry_allocation, market="overseas"),
        lambda part: part.setdefault("industry_allocation", []),
    ),
    _Rows(breakdown.COUNTRY_ALLOCATION, parse_country_allocation, lambda part: part.setdefault("country_allocation", [])),
    _Rows(holdings.STOCKS, parse_holdings, lambda part: part.setdefault("top_stocks", [])),
    _Rows(breakdown.BOND_TYPES, parse_bond_types, lambda part: part.setdefault("bond_types", [])),
    _Rows(holdings.BONDS, parse_holdings, lambda part: part.setdefault("top_bonds", [])),
    _Rows(holdings.ABS, parse_holdings, lambda part: part.setdefault("top_abs", [])),
    _Rows(holdings.PRECIOUS_METALS, parse_holdings, lambda part: part.setdefault("precious_metals", [])),
    _Rows(holdings.WARRANTS, parse_holdings, lambda part: part.setdefault("top_warrants", [])),
    _Rows(holdings.DERIVATIVES, parse_holdings, lambda part: part.setdefault("top_derivatives", [])),
    _Rows(holdings.FUNDS, parse_holdings, lambda part: part.setdefault("top_funds", [])),
    _Rows(holdings.CONVERTIBLES, parse_holdings, lambda part: part.setdefault("convertible_bonds", [])),
    _Rows(holdings.FUTURES, parse_futures, lambda part: part.setdefault("futures", [])),
    _Rows(holdings.BUYS, parse_trades, lambda part: part.setdefault("top_buys", [])),
    _Rows(holdings.SELLS, parse_trades, lambda part: part.setdefault("top_sells", [])),
    _Rows(allocation.OTHER_ASSETS, parse_other_assets, lambda part: part.setdefault("other_assets", [])),
)
#: Industry tables whose note names the classification standard, by market.
_CLASSIFIED = ((breakdown.HK_INDUSTRY, "hk_connect"), (breakdown.OVERSEAS_INDUSTRY, "overseas"))
#: Cheap pre-filter: every portfolio heading contains one of these words.
_CANDIDATE = re.compile(r"组合|明细|分布|期货|构成|总额")


def parse_portfolio(page: Page, errors: dict[str, str] | None = None) -> PortfolioPart:
    """The portfolio keys of one page.

    A present section that cannot be read raises ``ParseError(section=heading)``; when ``errors`` is
    given the error is recorded there instead (heading -> message), the key it feeds is left out rather
    than filled from its other sections, and every other key is still returned.
    """
    read: list[tuple[str, _Put]] = []
    failed: set[str] = set()
    for section in page.sections:
        if not _CANDIDATE.search(section.heading):
            continue
        try:
            read.extend(_read(section))
        except ParseError as exc:
            if errors is None:
                raise
            errors[exc.section or section.heading] = exc.message
            failed.update(_keys_of(section))
    document: PortfolioPart = {}
    for key, put in read:
        if key not in failed:
            put(document)
    return document


def _read(section: Section) -> list[tuple[str, _Put]]:
    """What one section adds: (the key it feeds, its put), one for each key it feeds."""
    heading = section.heading
    if allocation.ASSET_ALLOCATION.match(heading):
        return [("asset_allocation", partial(_put_allocation, parse_asset_allocation(section)))]
    if holdings.TRADE_TOTALS.match(heading):
        return [("trade_totals", partial(_put_trade_totals, parse_trade_totals(section)))]
    for rows in _LISTS:
        if rows.pattern.match(heading):
            return [(rows.key, rows.read(section)), *_classification(section)]
    return []


def _classification(section: Section) -> list[tuple[str, _Put]]:
    """``industry_classification[market]``: the standard the first Stock Connect/QDII note names."""
    for pattern, market in _CLASSIFIED:
        if pattern.match(section.heading):
            standard = parse_industry_classification(section)
            if standard is not None:
                return [("industry_classification", partial(_put_classification, market, standard))]
    return []


def _put_trade_totals(totals: TradeTotals, part: PortfolioPart) -> None:
    part.setdefault("trade_totals", totals)


def _put_classification(market: str, standard: str, part: PortfolioPart) -> None:
    part.setdefault("industry_classification", {}).setdefault(market, standard)


def _put_allocation(result: allocation.Allocation, part: PortfolioPart) -> None:
    """The first printed allocation table wins; a later repeat of the heading adds nothing."""
    if part.get("asset_allocation"):
        return
    part["asset_allocation"] = result.rows
    if result.basis_printed is not None:
        part["asset_allocation_basis"] = result.basis_printed
    if result.total_yuan is not None:
        part[result.total_key] = result.total_yuan


def _keys_of(section: Section) -> list[str]:
    heading = section.heading
    if allocation.ASSET_ALLOCATION.match(heading):
        return ["asset_allocation", "asset_allocation_basis", *allocation.TOTAL_KEYS.values()]
    if holdings.TRADE_TOTALS.match(heading):
        return ["trade_totals"]
    return [rows.key for rows in _LISTS if rows.pattern.match(heading)][:1]
