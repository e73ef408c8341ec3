"""Every real page parses into a document whose cross-checks pass, with no unknown or unreadable section.

A genuine anomaly on a page (the page disagreeing with itself) would be listed in ``EXPECTED_ANOMALIES``
with the check name and the reason; the corpus currently has none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.parsing import PARSER_VERSION, SCHEMA
from crawler.parsing.checks import run_checks
from tests.parsing.conftest import Parsed
from tests.parsing.test_metadata import PAGES

#: (page, check) -> why the page itself is inconsistent. Empty: all 39 pages pass every applicable check.
EXPECTED_ANOMALIES: dict[tuple[str, str], str] = {}

REQUIRED = ("fund_code", "fund_name", "report_title", "report_kind", "send_date")
FIGURES = ("total_net_assets", "nav_per_unit", "ending_shares", "share_changes")


def test_corpus_is_complete(corpus_dir: Path) -> None:
    assert sorted(p.stem for p in corpus_dir.glob("*.html")) == PAGES


@pytest.mark.parametrize("name", PAGES)
def test_page_parses_without_unknown_or_unreadable_sections(name: str, parsed: Parsed) -> None:
    report = parsed(name)
    assert report.section_errors == {}
    assert report.unknown_sections == []
    doc = report.document
    assert "unread_sections" not in doc  # every data section the page prints was read
    assert (doc["schema"], doc["parser_version"], report.parser_version) == (
        SCHEMA,
        PARSER_VERSION,
        PARSER_VERSION,
    )
    assert all(doc[key] for key in REQUIRED)
    if doc["report_kind"] != "profile":
        assert all(doc.get(key) for key in FIGURES), [key for key in FIGURES if not doc.get(key)]
        assert doc["period_start"] and doc["period_end"] and doc["period_start"] < doc["period_end"]


@pytest.mark.parametrize("name", PAGES)
def test_cross_checks_pass(name: str, parsed: Parsed, manifest: dict[str, dict[str, str]]) -> None:
    row = manifest[name]
    listing = {"fund_code": row["fund_code"], "send_date": row["sent_on"] or None}
    results = run_checks(parsed(name).document, listing)
    failed = {check: message for check, message in results.items() if message}
    expected = {check for (page, check) in EXPECTED_ANOMALIES if page == name}
    assert set(failed) == expected, failed
    assert "listing_fund_code" in results


def test_class_funds_key_every_figure_by_printed_class_name(parsed: Parsed) -> None:
    multi = [n for n in PAGES if parsed(n).document.get("share_classes")]
    assert len(multi) == 15
    for name in multi:
        doc = parsed(name).document
        classes = {c["name"] for c in doc["share_classes"]}
        assert set(doc["nav_per_unit"]) == classes, name
        assert set(doc["ending_shares"]) == classes | {"total"}, name
        assert set(doc["share_changes"]) == classes | {"total"}, name


@pytest.mark.parametrize("name", [n for n in PAGES if n != "159255_profile"])
def test_per_class_sections_cover_every_class(name: str, parsed: Parsed) -> None:
    doc = parsed(name).document
    classes = {c["name"] for c in doc.get("share_classes", [])} or {"total"}
    if "reit" not in doc:  # REITs print no NAV-growth table
        assert set(doc["nav_performance"]) == classes
    assert doc["managers"] and all(m["name"] and m["start_date"] for m in doc["managers"])
    if doc["report_kind"] in ("annual", "interim"):
        assert set(doc["holders"]) <= classes | {"total"}
        assert doc["audited"] is True if doc["report_kind"] == "annual" else "audited" not in doc
