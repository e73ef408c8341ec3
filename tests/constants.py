"""Constants several test modules share: where the repository and the real corpus are, how tests name
themselves to a site, the site's two paths, and the partition most tests publish into."""

from __future__ import annotations

from pathlib import Path

#: The repository's root (the directory holding ``crawler/`` and ``tests/``).
REPO = Path(__file__).resolve().parents[1]
#: The real report pages live beside the repository (never copied into it).
CORPUS_DIR = REPO.parent / "shared" / "corpus"

USER_AGENT = "fundcrawl-test/1 (+https://example.org/fundcrawl)"
#: The site's listing search and its report view (which redirects to the page).
SEARCH_PATH = "/fund/disclose/advanced_search_xbrl.do"
VIEW_PATH = "/fund/disclose/instance_html_view.do"

#: The partition (report type code, year) most tests publish into: Q1 reports of 2025.
PARTITION = ("FB030010", "2025")
