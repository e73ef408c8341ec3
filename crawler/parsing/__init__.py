"""Turn one EID report page into the ``fundcrawl.report/1`` document.

``parse_report`` is pure: bytes in, ``ParsedReport`` out. It raises ``ParseError`` only when the page is not
a report page at all. Every section parser runs on its own: one that cannot read its table is recorded in
``section_errors`` and the others still run; headings no parser or prose list knows are listed in
``unknown_sections`` so a new template is visible while the raw page waits in the archive for a re-parse.

No silent empties: a data section whose heading is printed but whose table fed nothing is a section error
too, and the document carries every section error as ``unread_sections`` (heading -> why), so "printed but
unreadable" never looks like an absent key ("no such section") and the cross-checks flag the report.

Every value has the type :class:`crawler.models.ReportDocument` gives its key: a section parser whose result
does not fit is an unreadable section like any other, so no later stage has to guess what a value means.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import ParamSpec, TypeVar

from crawler.exceptions import ParseError
from crawler.models import ParsedReport, document_problems, problem_summary
from crawler.parsing.assemble import LEADING_KEYS, ReportParts, assemble
from crawler.parsing.coverage import unread_sections
from crawler.parsing.dom import Page, load_page
from crawler.parsing.headings import known_patterns, unknown_headings
from crawler.parsing.sections.audit import parse_audit
from crawler.parsing.sections.basic_info import parse_basic_info
from crawler.parsing.sections.distributions import parse_distributions
from crawler.parsing.sections.holders import parse_holders
from crawler.parsing.sections.indicators import parse_indicators
from crawler.parsing.sections.investors import parse_single_investors
from crawler.parsing.sections.managers import parse_managers
from crawler.parsing.sections.metadata import parse_metadata
from crawler.parsing.sections.performance import parse_performance
from crawler.parsing.sections.portfolio import parse_portfolio
from crawler.parsing.sections.profile import parse_profile
from crawler.parsing.sections.reit import parse_reit
from crawler.parsing.sections.shares import parse_share_changes
from crawler.parsing.sections.statements import parse_statements
from crawler.parsing.sections.top_holders import parse_top_holders
from crawler.parsing.sections.unit_value import SOURCE_SECTION, StatedNavPart, parse_stated_nav

__all__ = ["KNOWN_HEADINGS", "PARSER_VERSION", "SCHEMA", "parse_report"]

#: Recorded with every stored row; bump it when any extracted value can change.
PARSER_VERSION = "1.2.0"
SCHEMA = "fundcrawl.report/1"

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_Part = TypeVar("_Part", bound=Mapping[str, object])


def parse_report(html: bytes | str) -> ParsedReport:
    """Parse a report page; ``ParseError`` only when it is not a report page at all."""
    page = load_page(html)
    errors: dict[str, str] = {}
    parts = _parse_sections(page, errors)
    document = assemble(parts, schema=SCHEMA, parser_version=PARSER_VERSION)
    errors.update(unread_sections(page, document, errors))
    if errors:
        document["unread_sections"] = dict(errors)
    # Each part was checked as it was parsed (see _typed); the leading keys are combined from several parts.
    problems = document_problems({key: document.get(key) for key in LEADING_KEYS}, partial=True)
    if problems:
        raise ParseError(f"document does not fit fundcrawl.report/1: {problem_summary(problems)}")
    class_names = [c["name"] for c in document.get("share_classes", [])]
    fund_names = [n for n in (document.get("short_name"), document.get("fund_name")) if n]
    return ParsedReport(
        document=document,
        parser_version=PARSER_VERSION,
        unknown_sections=unknown_headings(page, class_names, fund_names),
        section_errors=errors,
    )


def _parse_sections(page: Page, errors: dict[str, str]) -> ReportParts:
    """Run every section parser, each isolated from the others' failures."""
    metadata = _run("banner", errors, parse_metadata, page)
    basic = _run("basic_info", errors, parse_basic_info, page) or {}
    profile = _run("profile", errors, parse_profile, page) or {}
    classes = [c["name"] for c in basic.get("share_classes", [])]
    indicators = _run("main_indicators", errors, parse_indicators, page, classes) or {}
    share_changes = _run("share_changes", errors, parse_share_changes, page, classes) or {}
    performance = _run("nav_performance", errors, parse_performance, page, classes) or {}
    holders = _run("holders", errors, parse_holders, page, classes) or {}
    top_holders = _run("top_holders", errors, parse_top_holders, page, classes) or {}
    distributions = _run("distributions", errors, parse_distributions, page, classes) or {}
    stated_nav: StatedNavPart = {}
    if not indicators.get("nav_per_unit") and (metadata["report_kind"] if metadata else None) != "profile":
        # No NAV row (money-market funds keep the share at 1.00): take the value where the text states it.
        # A product profile states no period-end value, so its prose is not read.
        title_name = metadata["fund_name"] if metadata else None
        names = [basic.get("short_name"), basic.get("fund_name_printed"), title_name]
        period_end = metadata["period_end"] if metadata else None
        fund_names = [n for n in names if n]
        stated_nav = (
            _run(SOURCE_SECTION, errors, parse_stated_nav, page, classes, fund_names, period_end) or {}
        )
    return {
        "metadata": metadata,
        "basic": basic,
        "profile": profile,
        "indicators": indicators,
        "share_changes": share_changes,
        "performance": performance,
        "holders": holders,
        "top_holders": top_holders,
        "distributions": distributions,
        "stated_nav": stated_nav,
        "statements": _run("statements", errors, parse_statements, page) or {},
        "managers": _run("managers", errors, parse_managers, page) or {},
        "investors": _run("single_investors", errors, parse_single_investors, page) or {},
        "reit": _run("reit", errors, parse_reit, page) or {},
        "audit": _run("audit", errors, parse_audit, page) or {},
        "portfolio": _run("portfolio", errors, parse_portfolio, page, errors) or {},
    }


def _run(
    name: str, errors: dict[str, str], parser: Callable[_P, _Part], *args: _P.args, **kwargs: _P.kwargs
) -> _Part | None:
    """Call one section parser; an unreadable section is recorded, never fatal (None).

    ValueError and LookupError are caught too: an unfamiliar layout must not crash the worker, and the
    section is reported instead of half-filled.
    """
    try:
        return _typed(parser(*args, **kwargs), name)
    except ParseError as exc:
        key, message = exc.section or name, exc.message
    except (ValueError, LookupError) as exc:
        key, message = name, f"{type(exc).__name__}: {exc}"
    errors[key] = message
    logger.info("section %r unreadable: %s", key, message)
    return None


def _typed(part: _Part, name: str) -> _Part:
    """``part`` when every document key it holds has its documented type, else ``ParseError``: mypy checks a
    section parser's keys against its part type, this checks what the page gave."""
    problems = document_problems(part, partial=True)
    if problems:
        raise ParseError(f"values of an unexpected type: {problem_summary(problems)}", section=name)
    return part


KNOWN_HEADINGS = known_patterns()
