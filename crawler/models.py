"""Typed records that travel between stages: listing rows, fetched pages, the report document and its row kinds,
parsed reports, pipeline items."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import NoneType, UnionType
from typing import (
    Annotated,
    Any,
    NotRequired,
    Required,
    TypedDict,
    TypeGuard,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

#: The site's zone: send dates are Beijing dates, and schedules read cron in it unless they name another zone.
SITE_TIMEZONE_NAME = "Asia/Shanghai"
SITE_TIMEZONE = ZoneInfo(SITE_TIMEZONE_NAME)

#: Report kinds by EID reportTypeCode. Names are what schedules and the CLI accept.
REPORT_TYPES: dict[str, str] = {
    "annual": "FB010010",
    "interim": "FB020010",
    "q1": "FB030010",
    "q2": "FB030020",
    "q3": "FB030030",
    "q4": "FB030040",
    "profile": "FA010070",
    "profile_update": "FA010080",
}
REPORT_KINDS_BY_CODE: dict[str, str] = {code: name for name, code in REPORT_TYPES.items()}

#: Fund-type filter codes.
FUND_TYPES: dict[str, str] = {
    "equity": "6020-6010",
    "money_market": "6020-6020",
    "bond": "6020-6030",
    "mixed": "6020-6040",
    "qdii": "6020-6050",
    "short_term_bond": "6020-6060",
    "reit": "6020-6084",
    "fof": "6020-6094",
    "commodity": "6020-6104",
}


class ListingRow(BaseModel):
    """One row of ``advanced_search_xbrl.do`` exactly as the site sends it.

    Strict: a wrong type or a missing field is rejected, never stored half-filled.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    uploadInfoId: StrictInt = Field(gt=0, lt=10**12)
    fundId: StrictInt | None = None
    fundCode: StrictStr = Field(pattern=r"^[0-9A-Za-z]{6}$")
    fundShortName: StrictStr = Field(max_length=200)
    organName: StrictStr = Field("", max_length=200)
    reportYear: StrictStr = Field(pattern=r"^(\d{4})?$")
    reportDesp: StrictStr = Field("", max_length=200)
    uploadDate: dt.date | None = None
    reportSendDate: dt.date


class ListingPage(BaseModel):
    """One page of the search endpoint."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    iTotalRecords: StrictInt = Field(ge=0)
    iTotalDisplayRecords: StrictInt | None = None
    aaData: list[ListingRow]


@dataclass(frozen=True)
class ReportRef:
    """A report the site lists: a listing row plus the report type code we queried with."""

    upload_info_id: int
    report_type_code: str
    fund_code: str
    fund_short_name: str
    organ_name: str
    report_year: str
    report_desp: str
    send_date: dt.date
    upload_date: dt.date | None = None
    fund_id: int | None = None

    @classmethod
    def from_row(cls, row: ListingRow, report_type_code: str) -> ReportRef:
        return cls(
            upload_info_id=row.uploadInfoId,
            report_type_code=report_type_code,
            fund_code=row.fundCode,
            fund_short_name=row.fundShortName,
            organ_name=row.organName,
            report_year=row.reportYear,
            report_desp=row.reportDesp,
            send_date=row.reportSendDate,
            upload_date=row.uploadDate,
            fund_id=row.fundId,
        )


@dataclass(frozen=True)
class FetchedPage:
    """A report page as downloaded: the raw bytes and where they came from."""

    upload_info_id: int
    final_url: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    #: the page's validators as the site sent them (``ETag``, ``Last-Modified``), for conditional re-checks
    etag: str = ""
    last_modified: str = ""

    @property
    def sha256(self) -> str:
        """The page's address; computed on demand, since the archive hashes what it stores itself."""
        return hashlib.sha256(self.body).hexdigest()


# --- The ``fundcrawl.report/1`` document ------------------------------------------------------------------------
# One TypedDict per row kind and one for the document, so the parser, storage, the checks, the exports and the
# validate pipeline share one definition that mypy follows. ``document_problems`` checks a value against the same
# types at run time: the parser turns a problem into a ParseError, validation into a drop, storage into an error.
# Conventions (docs: field catalogue): money and shares are numbers (``float``; an ``int`` is a number too),
# percentages in percent units, codes are text, dates ISO text, a printed empty cell is None; figures per share
# class are keyed by the class's short name plus ``total`` for the fund.


class _IsoDate:
    """Marks text that must read as an ISO ``YYYY-MM-DD`` date (checked at run time, ``str`` to mypy)."""


IsoDate = Annotated[str, _IsoDate]
#: A per-class figure: class short name (or ``total``) -> number, None where the page prints an empty cell.
ByClass = dict[str, float | None]


class ShareClass(TypedDict):
    """One entry of ``share_classes``, in printed order."""

    name: str
    code: str


class AllocationRow(TypedDict):
    """A row of ``asset_allocation``; the percentage key names its basis (``pct_of_<basis>``)."""

    seq: int | None
    category: str | None
    parent: NotRequired[str | None]
    amount_yuan: float | None
    pct_of_total_assets: NotRequired[float | None]
    pct_of_non_abs_portfolio: NotRequired[float | None]


class OtherAsset(TypedDict):
    """A row of ``other_assets`` (the breakdown of the 其他资产 line)."""

    seq: int | None
    name: str | None
    amount_yuan: float | None


class IndustryRow(TypedDict):
    """A row of ``industry_allocation``; ``market`` is domestic, hk_connect or overseas."""

    market: str
    code: str | None
    industry: str | None
    fair_value_yuan: float | None
    pct_of_nav: float | None
    sleeve: NotRequired[str]


class CountryRow(TypedDict):
    """A row of ``country_allocation`` (QDII)."""

    country: str | None
    fair_value_yuan: float | None
    pct_of_nav: float | None


class BondTypeRow(TypedDict):
    """A row of ``bond_types`` (money-market funds value at amortised cost)."""

    seq: int | None
    category: str | None
    fair_value_yuan: float | None
    pct_of_nav: float | None
    amortised_cost_yuan: NotRequired[float | None]


class Holding(TypedDict):
    """A row of a holdings table (``top_stocks``, ``top_bonds``, ``top_funds``, ...): six keys always, and the
    extra columns a QDII, FOF, derivative or money-market table prints."""

    rank: int | None
    code: str | None
    name: str | None
    quantity: float | None
    fair_value_yuan: float | None
    pct_of_nav: float | None
    name_en: NotRequired[str | None]
    category: NotRequired[str | None]
    fund_type: NotRequired[str | None]
    operation_mode: NotRequired[str | None]
    manager: NotRequired[str | None]
    exchange: NotRequired[str | None]
    country: NotRequired[str | None]
    amortised_cost_yuan: NotRequired[float | None]
    #: 是/否 as True/False, any other printed answer as its text
    related_party: NotRequired[bool | str | None]
    sleeve: NotRequired[str]


class FuturesRow(TypedDict):
    """A row of ``futures``."""

    code: str | None
    name: str | None
    position: float | None
    contract_value_yuan: float | None
    fair_value_change_yuan: float | None
    risk_note: NotRequired[str | None]


class Trade(TypedDict):
    """A row of ``top_buys`` or ``top_sells`` (cumulative trading, not a holding)."""

    rank: int | None
    code: str | None
    name: str | None
    amount_yuan: float | None
    pct_of_beginning_nav: float | None
    name_en: NotRequired[str | None]
    sleeve: NotRequired[str]


class TradeTotals(TypedDict, total=False):
    """``trade_totals``: the cost of all buys and the income of all sells."""

    buy_cost_yuan: float | None
    sell_income_yuan: float | None


class ShareChange(TypedDict):
    """One class's (or the fund's) entry of ``share_changes``."""

    beginning: float | None
    subscriptions: float | None
    redemptions: float | None
    split: float | None
    ending: float | None
    at_contract_effective: NotRequired[float | None]


class ClassIndicators(TypedDict, total=False):
    """One class's (or the fund's) main indicators; ``other`` keeps printed rows no field names."""

    realized_income: float | None
    period_profit: float | None
    weighted_avg_profit_per_unit: float | None
    weighted_avg_nav_return_pct: float | None
    nav_growth_pct: float | None
    distributable_profit_end: float | None
    distributable_profit_per_unit: float | None
    net_assets_end: float | None
    nav_per_unit_end: float | None
    cumulative_nav_growth_pct: float | None
    revenue: float | None
    net_profit: float | None
    operating_cash_flow: float | None
    cash_distribution_rate_pct: float | None
    annualized_cash_distribution_rate_pct: float | None
    total_assets_end: float | None
    assets_to_net_assets_pct: float | None
    irr_pct: float | None
    fair_value_reference_nav_per_unit: float | None
    yield_7d_annualized_pct: float | None
    income_per_10k_units: float | None
    other: dict[str, float | None]


#: Where a NAV per unit stated in words was read (``from`` is always ``text``).
NavSource = TypedDict("NavSource", {"from": str, "section": str, "text": str})


class PerformanceRow(TypedDict):
    """A horizon of ``nav_performance``: growth and benchmark return with their deviations, in percent."""

    horizon: str
    nav_growth: NotRequired[float | None]
    nav_growth_std: NotRequired[float | None]
    benchmark_return: NotRequired[float | None]
    benchmark_std: NotRequired[float | None]
    excess_return: NotRequired[float | None]
    std_diff: NotRequired[float | None]


class HolderStructure(TypedDict, total=False):
    """One class's (or the fund's) holder structure; ``feeder_*`` when a feeder fund holds shares."""

    holder_count: int | None
    avg_shares: float | None
    institutional_shares: float | None
    institutional_pct: float | None
    individual_shares: float | None
    individual_pct: float | None
    feeder_shares: float | None
    feeder_pct: float | None


class ListedHolder(TypedDict):
    """A row of ``listed_holders`` or ``reit_top_holders``."""

    rank: int | None
    name: str
    shares: float | None
    pct: float | None


class Distribution(TypedDict):
    """A year of ``distributions``."""

    year: str
    per_10_units: float | None
    cash: float | None
    reinvested: float | None
    total: float | None
    note: str | None


class Manager(TypedDict, total=False):
    """A row of ``managers``: the columns the table prints, dates as ISO text."""

    name: str | None
    title: str | None
    start_date: IsoDate | None
    end_date: IsoDate | None
    years_text: str | None
    years_experience: float | None
    infra_experience: str | None
    bio: str | None


class ProfileManager(TypedDict):
    """``profile_manager`` of a product profile."""

    name: str
    start_date: IsoDate | None
    industry_start_date: IsoDate | None


class SingleInvestor(TypedDict):
    """A row of ``single_investors_over_20pct``."""

    investor_type: str
    seq: int | None
    period_start: IsoDate | None
    period_end: IsoDate | None
    beginning: float | None
    subscriptions: float | None
    redemptions: float | None
    ending: float | None
    pct: float | None
    periods: NotRequired[list[list[IsoDate]]]


class DistributableItem(TypedDict):
    """A line of a REIT's distributable-amount calculation (调增项 and 调减项 print no amount)."""

    item: str
    amount: float | None


class ReitProject(TypedDict, total=False):
    """An infrastructure project of a REIT."""

    name: Required[str]
    company: str
    type: str
    operating_model: str
    location: str


class ReitFigures(TypedDict, total=False):
    """``reit``: distributions of the period, the distributable-amount calculation and the projects."""

    distributable_amount: float | None
    distributable_amount_per_unit: float | None
    actual_distribution: float | None
    actual_distribution_per_unit: float | None
    distributable_calc: list[DistributableItem]
    projects: list[ReitProject]


class PortfolioPart(TypedDict, total=False):
    """The document keys the portfolio report (投资组合报告) fills; the portfolio parser returns them and the
    document holds them."""

    asset_allocation: list[AllocationRow]
    asset_allocation_basis: str
    total_assets: float | None
    reit_portfolio_total: float | None
    other_assets: list[OtherAsset]
    industry_allocation: list[IndustryRow]
    industry_classification: dict[str, str]
    country_allocation: list[CountryRow]
    bond_types: list[BondTypeRow]
    top_stocks: list[Holding]
    top_bonds: list[Holding]
    top_abs: list[Holding]
    precious_metals: list[Holding]
    top_warrants: list[Holding]
    top_derivatives: list[Holding]
    top_funds: list[Holding]
    convertible_bonds: list[Holding]
    futures: list[FuturesRow]
    top_buys: list[Trade]
    top_sells: list[Trade]
    trade_totals: TradeTotals


class ReportDocument(PortfolioPart, total=False):
    """The public ``fundcrawl.report/1`` document of one report page.

    The leading keys are always present (None when the page does not print them); every other key is present
    when the page prints its section and absent when it does not (an empty list: printed, nothing held). The
    portfolio keys are :class:`PortfolioPart`'s.
    """

    schema: Required[str]
    parser_version: Required[str]
    fund_code: Required[str | None]
    fund_name: Required[str | None]
    report_title: Required[str | None]
    report_kind: Required[str | None]
    report_year: Required[int | None]
    period_start: Required[IsoDate | None]
    period_end: Required[IsoDate | None]
    send_date: Required[IsoDate | None]
    manager: Required[str | None]
    custodian: Required[str | None]
    compile_date: IsoDate | None
    # fund profile
    short_name: str
    exchange_short_name: str
    operation_mode: str
    contract_term: str
    contract_effective_date: IsoDate | None
    listing_exchange: str
    listing_date: IsoDate | None
    front_end_code: str
    back_end_code: str
    abs_manager: str
    operating_manager: str
    investment_objective: str
    investment_strategy: str
    investment_scope: str
    benchmark: str
    risk_return_profile: str
    distribution_policy: str
    fund_type: str
    open_frequency: str
    currency: str
    other: str
    profile_manager: ProfileManager | None
    fees: list[dict[str, str]]
    share_classes: list[ShareClass]
    class_risk_profiles: dict[str, str]
    # figures by class
    total_net_assets: ByClass
    nav_per_unit: ByClass
    nav_per_unit_source: dict[str, NavSource]
    ending_shares: ByClass
    indicators: dict[str, ClassIndicators]
    share_changes: dict[str, ShareChange]
    nav_performance: dict[str, list[PerformanceRow]]
    holders: dict[str, HolderStructure]
    listed_holders: dict[str, list[ListedHolder]]
    reit_top_holders: dict[str, list[ListedHolder]]
    distributions: dict[str, list[Distribution]]
    # statements and audit: label as printed -> current-period value
    balance_sheet: dict[str, float | None]
    income_statement: dict[str, float | None]
    audited: bool | None
    audit_opinion: str
    audit_report_no: str
    managers: list[Manager]
    single_investors_over_20pct: list[SingleInvestor]
    reit: ReitFigures
    #: sections the page prints but the parser could not read: heading (or section name) -> why
    unread_sections: dict[str, str]


class Supersession(TypedDict):
    """What superseded a stored report: the report and page that replaced it, and when (ISO text)."""

    upload_info_id: int
    page_sha256: NotRequired[str | None]
    at: str | None


class ExportedDocument(ReportDocument, total=False):
    """A stored document as exports print it: the document plus the facts of the stored report."""

    upload_info_id: Required[int]
    page_sha256: Required[str | None]
    is_current: Required[bool]
    superseded_by: Required[Supersession | None]


def document_problems(document: object, *, partial: bool = False) -> list[str]:
    """Why ``document`` is not a :class:`ReportDocument`, one message per bad value (empty when it is one).

    ``partial`` checks the keys present without requiring any (a section parser's share of a document). Keys
    the type does not name are not looked at: the document is open to keys a newer parser adds.
    """
    if partial and isinstance(document, Mapping):
        hints, _ = _fields(ReportDocument)
        return [problem for key, hint in hints.items() if key in document and not _fits(hint)(document[key])
                for problem in _problems(document[key], hint, f"document.{key}")]
    if _fits(ReportDocument)(document):
        return []
    return list(_problems(document, ReportDocument, "document"))


def is_report_document(value: object) -> TypeGuard[ReportDocument]:
    """Whether ``value`` is a :class:`ReportDocument` (:func:`document_problems` says why it is not)."""
    return _fits(ReportDocument)(value)


def problem_summary(problems: list[str], listed: int = 5) -> str:
    """The first ``listed`` problems, and how many more there are (what an error message or a drop reason shows)."""
    more = len(problems) - listed
    return "; ".join(problems[:listed]) + (f" (and {more} more)" if more > 0 else "")


_Fits = Callable[[object], bool]


@cache
def _fits(hint: Any) -> _Fits:
    """A fast yes/no test of ``value`` against ``hint``, built once per type: a document that fits (nearly every
    one) is checked without building a single message; :func:`_problems` then explains one that does not."""
    origin = get_origin(hint)
    if origin is Annotated:
        return _fits_annotated(hint)
    if origin in (Union, UnionType):
        return _fits_union(get_args(hint))
    if origin is list:
        item = _fits(get_args(hint)[0])
        return lambda value: type(value) is list and all(item(element) for element in value)
    if origin is dict:
        item = _fits(get_args(hint)[1])
        return lambda value: isinstance(value, Mapping) and all(
            type(key) is str and item(element) for key, element in value.items())
    if isinstance(hint, type) and hasattr(hint, "__required_keys__"):
        return _fits_typed_dict(hint)
    return _FITS_PLAIN.get(hint) or (lambda value: isinstance(value, hint))


#: The plain types' tests, written out: a bool is no number and a number is finite (``x - x`` is NaN otherwise).
_FITS_PLAIN: dict[Any, _Fits] = {
    NoneType: lambda value: value is None,
    str: lambda value: type(value) is str,
    bool: lambda value: type(value) is bool,
    int: lambda value: type(value) is int,
    float: lambda value: type(value) is int or (type(value) is float and value - value == 0),
}


def _fits_union(arms: tuple[Any, ...]) -> _Fits:
    tests = tuple(_fits(arm) for arm in arms if arm is not NoneType)
    if NoneType in arms and len(tests) == 1:
        only = tests[0]
        return lambda value: value is None or only(value)
    nullable = NoneType in arms
    return lambda value: (nullable and value is None) or any(test(value) for test in tests)


def _fits_annotated(hint: Any) -> _Fits:
    base, *marks = get_args(hint)
    fits = _fits(base)
    if _IsoDate not in marks:
        return fits
    return lambda value: fits(value) and _is_iso_date(str(value))


def _fits_typed_dict(kind: type) -> _Fits:
    hints, required = _fields(kind)
    fields = {key: _fits(hint) for key, hint in hints.items()}

    def fits(value: object) -> bool:
        if not isinstance(value, Mapping) or not required <= value.keys():
            return False
        for key, element in value.items():
            test = fields.get(key)
            if test is not None and not test(element):
                return False
        return True

    return fits


def _problems(value: object, hint: Any, path: str) -> Iterator[str]:
    origin = get_origin(hint)
    if origin is Annotated:
        yield from _annotated_problems(value, hint, path)
    elif origin in (Union, UnionType):
        yield from _union_problems(value, get_args(hint), path)
    elif origin is list:
        yield from _list_problems(value, get_args(hint)[0], path)
    elif origin is dict:
        yield from _dict_problems(value, get_args(hint)[1], path)
    elif isinstance(hint, type) and hasattr(hint, "__required_keys__"):
        yield from _typed_dict_problems(value, hint, path)
    elif hint is float and isinstance(value, float) and not math.isfinite(value):
        yield f"{path}: {value} is not a finite number"
    elif not _is_instance(value, hint):
        yield f"{path}: {_kind(value)} where {_name(hint)} was expected"


def _is_instance(value: object, hint: type) -> bool:
    """``isinstance`` as the type's readers mean it: a bool is not a number, an int is a float, and a number is
    finite (a page prints no infinity, and JSON has none)."""
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, hint)


def _annotated_problems(value: object, hint: Any, path: str) -> Iterator[str]:
    base, *marks = get_args(hint)
    found = list(_problems(value, base, path))
    yield from found
    if not found and _IsoDate in marks and not _is_iso_date(str(value)):
        yield f"{path}: {str(value)[:40]!r} is not an ISO date"


def _is_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _union_problems(value: object, arms: tuple[Any, ...], path: str) -> Iterator[str]:
    if value is None and NoneType in arms:
        return
    found = [list(_problems(value, arm, path)) for arm in arms if arm is not NoneType]
    if any(not problems for problems in found):
        return
    yield from found[0] if len(found) == 1 else [f"{path}: {_kind(value)} where {_name(arms)} was expected"]


def _list_problems(value: object, item: Any, path: str) -> Iterator[str]:
    if not isinstance(value, list):
        yield f"{path}: {_kind(value)} where a list was expected"
        return
    for index, element in enumerate(value):
        yield from _problems(element, item, f"{path}[{index}]")


def _dict_problems(value: object, item: Any, path: str) -> Iterator[str]:
    if not isinstance(value, Mapping):
        yield f"{path}: {_kind(value)} where an object was expected"
        return
    for key, element in value.items():
        if not isinstance(key, str):
            yield f"{path}: key {key!r} is not text"
        yield from _problems(element, item, f"{path}.{key}")


def _typed_dict_problems(value: object, kind: type, path: str) -> Iterator[str]:
    if not isinstance(value, Mapping):
        yield f"{path}: {_kind(value)} where an object was expected"
        return
    hints, required = _fields(kind)
    for key in sorted(required - value.keys()):
        yield f"{path}: no {key!r}"
    for key, hint in hints.items():
        if key in value:
            yield from _problems(value[key], hint, f"{path}.{key}")


@cache
def _fields(kind: type) -> tuple[dict[str, Any], frozenset[str]]:
    """A TypedDict's field types and its required keys.

    ``__required_keys__`` cannot be used: on Python 3.11 it ignores ``Required``/``NotRequired`` written in a
    module with postponed annotations, as this one is.
    """
    hints: dict[str, Any] = {}
    required: set[str] = set()
    total = bool(getattr(kind, "__total__", True))
    for key, hint in get_type_hints(kind, include_extras=True).items():
        marker = get_origin(hint)
        if marker in (Required, NotRequired):
            hint = get_args(hint)[0]
        if marker is Required or (marker is not NotRequired and total):
            required.add(key)
        hints[key] = hint
    return hints, frozenset(required)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _name(hint: object) -> str:
    if isinstance(hint, tuple):
        return " or ".join(_name(arm) for arm in hint if arm is not NoneType)
    return getattr(hint, "__name__", str(hint))


@dataclass
class ParsedReport:
    """What the parser makes of one page.

    ``document`` is the public ``fundcrawl.report/1`` JSON object. ``unknown_sections`` lists headings the
    parser does not know; ``section_errors`` maps a known section whose table could not be read to why.
    """

    document: ReportDocument
    parser_version: str
    unknown_sections: list[str] = field(default_factory=list)
    section_errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ReportItem:
    """The item the Scrapy pipelines receive: one parsed report with its provenance.

    ``checks`` is filled by the validate pipeline: check name -> ``None`` when it passed, or a message.
    """

    upload_info_id: int
    document: ReportDocument
    parser_version: str
    page_sha256: str
    final_url: str = ""
    archive_path: str = ""
    listing: dict[str, Any] = field(default_factory=dict)
    unknown_sections: list[str] = field(default_factory=list)
    section_errors: dict[str, str] = field(default_factory=dict)
    checks: dict[str, str | None] = field(default_factory=dict)
    #: validators of the fetched page (empty when the page was not just fetched, e.g. a re-parse)
    page_etag: str = ""
    page_last_modified: str = ""
    #: set by the store pipeline when saving this page changed its slot's current version
    correction: dict[str, Any] | None = None
