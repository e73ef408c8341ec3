"""Which headings the parser knows, so that a new layout is reported rather than silently skipped.

Every module in ``crawler.parsing.sections`` may export ``HEADINGS: tuple[re.Pattern[str], ...]``; the
registry is their union (a new section module registers itself by existing); modules may also export
``KNOWN_TEXTS``, exact heading texts looked up in a set. ``sections/prose.py`` holds
the headings we deliberately do not extract (prose, notes, statements), taken from the corpus inventory.
A heading is also known when it is a known heading plus a share-class suffix (``…比较A``, ``… E``,
``…比较德邦资管月月鑫30天滚动债A``) or a bare class name (per-class sub-headings of note 7.4.x).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Sequence
from functools import cache

from crawler.parsing import sections
from crawler.parsing.dom import Page

#: A trailing share-class letter printed after a heading, with or without a space (``…情况 A``, ``…持有人E``).
_CLASS_LETTER = re.compile(r"\s?[A-Z]$")


@cache
def _registry() -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    """``KNOWN_TEXTS`` and ``HEADINGS`` exported by the modules of ``crawler.parsing.sections``."""
    texts: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for info in pkgutil.iter_modules(sections.__path__):
        module = importlib.import_module(f"{sections.__name__}.{info.name}")
        texts.update(getattr(module, "KNOWN_TEXTS", ()))
        patterns.extend(getattr(module, "HEADINGS", ()))
    return frozenset(texts), tuple(dict.fromkeys(patterns))


def known_patterns() -> tuple[re.Pattern[str], ...]:
    """Every registered heading pattern (the ``KNOWN_HEADINGS`` registry)."""
    return _registry()[1]


def _matches(heading: str, patterns: Iterable[re.Pattern[str]]) -> bool:
    return heading in _registry()[0] or any(p.search(heading) for p in patterns)


def is_known(heading: str, class_names: Sequence[str] = (), fund_names: Sequence[str] = ()) -> bool:
    """True when ``heading`` (or it minus a class suffix) matches a registered pattern."""
    patterns = known_patterns()
    if not heading or heading in class_names or heading in fund_names or _matches(heading, patterns):
        return True
    for name in sorted(class_names, key=len, reverse=True):
        if name and heading.endswith(name) and _matches(heading[: -len(name)].rstrip(), patterns):
            return True
    stripped = _CLASS_LETTER.sub("", heading)
    return stripped != heading and _matches(stripped, patterns)


def unknown_headings(
    page: Page, class_names: Sequence[str] = (), fund_names: Sequence[str] = ()
) -> list[str]:
    """Distinct headings of ``page`` that no registered pattern knows, in document order."""
    unknown = (s.heading for s in page.sections if not is_known(s.heading, class_names, fund_names))
    return list(dict.fromkeys(unknown))
