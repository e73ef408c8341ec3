"""Headings we know but do not extract: prose chapters, statement notes, events, and their wrappers.

The list (``known_headings.txt``) comes from the corpus heading inventory, so real pages report no unknown
sections while a genuinely new layout (a money-market template, say) is reported by its headings.
"""

from __future__ import annotations

import re
from importlib import resources

#: Exact normalised heading texts (looked up in a set: most headings of a page end here).
KNOWN_TEXTS: frozenset[str] = frozenset(
    line.strip()
    for line in resources.files(__package__).joinpath("known_headings.txt").read_text("utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
HEADINGS: tuple[re.Pattern[str], ...] = ()
