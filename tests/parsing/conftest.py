"""Parsing fixtures: each corpus page is parsed at most once per test session."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from crawler.models import ParsedReport
from crawler.parsing import parse_report

Parsed = Callable[[str], ParsedReport]


@pytest.fixture(scope="session")
def parsed(corpus_dir: Path) -> Parsed:
    """``parsed("013242_2025_q1")`` -> the ParsedReport of that corpus page (cached for the session)."""

    @cache
    def parse(name: str) -> ParsedReport:
        return parse_report((corpus_dir / f"{name}.html").read_bytes())

    return parse


@pytest.fixture(scope="session")
def manifest(corpus_dir: Path) -> dict[str, dict[str, str]]:
    """MANIFEST.csv rows by page name (file name without ``.html``)."""
    with (corpus_dir / "MANIFEST.csv").open(encoding="utf-8") as fh:
        return {row["file"].removesuffix(".html"): row for row in csv.DictReader(fh)}
