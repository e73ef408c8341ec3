"""Shared pytest fixtures. Keep this file small: each area adds only what several test files need."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The real report pages live beside the repo (never copied into it).
CORPUS_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Directory of the 39 real EID pages plus MANIFEST.csv."""
    return CORPUS_DIR.resolve()
