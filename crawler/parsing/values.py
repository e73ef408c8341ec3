"""Every number, percent and date read from a page goes through here.

Printed values carry thousands separators, full-width characters, a ``%`` on its own line and several
"empty" markers. A printed ``0`` is a real zero; ``-``, ``-%``, ``—``, ``无`` and blank mean "nothing".
Garbage raises ``ValueError`` so a mis-mapped column is noticed instead of stored as a wrong number.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

#: Printed markers for "no value" (after whitespace is removed).
EMPTY_MARKERS: frozenset[str] = frozenset({"", "-", "-%", "—", "--", "无", "%", "－", "－%", "—%"})

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_PLAIN = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_CN = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATE_ANY = r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{4}年\d{1,2}月\d{1,2}日|(?<!\d)\d{8}(?!\d))"
_PERIOD = re.compile(rf"({_DATE_ANY})\s*(?:至|-|－|—|~|～|到)\s*({_DATE_ANY})")


def clean_text(s: str | None) -> str:
    """Whitespace runs (ASCII, NBSP, U+3000) collapsed to one space, BOM dropped, trimmed."""
    if not s:
        return ""
    return " ".join(s.replace("\ufeff", "").split())


def _compact(s: str) -> str:
    """NFKC (full-width digits, ``％``, ``，``) and every separator or whitespace removed."""
    folded = unicodedata.normalize("NFKC", s)
    return "".join(folded.split()).replace(",", "").replace("\ufeff", "")


def parse_number(s: str | None) -> float | None:
    """``'1,945,524,568.91'`` -> 1945524568.91; empty markers -> None; garbage -> ValueError.

    A trailing ``%`` is dropped (the caller knows the unit from the column header). The float is built from
    the printed digits, so ``repr()`` reproduces them (``'194,356,494.5'`` -> 194356494.5).
    """
    if s is None:
        return None
    if _PLAIN.fullmatch(s):  # the common printed form: ASCII digits, grouping commas, a point
        return float(s.replace(",", ""))
    raw = _compact(s)
    if raw in EMPTY_MARKERS or unicodedata.normalize("NFKC", raw) in EMPTY_MARKERS:
        return None
    body = raw.removesuffix("%")
    body = body.replace("−", "-")
    if not _NUMBER.fullmatch(body):
        raise ValueError(f"not a number: {s!r}")
    return float(body)


def parse_percent(s: str | None) -> float | None:
    """A percentage in percent units: ``'13.77 %'`` -> 13.77, ``'-%'`` -> None."""
    return parse_number(s)


def parse_int(s: str | None) -> int | None:
    """An integer count (holders, ranks, years like ``'11年'`` are the caller's to strip)."""
    value = parse_number(s)
    if value is None:
        return None
    if not value.is_integer():
        raise ValueError(f"not an integer: {s!r}")
    return int(value)


def parse_date(s: str | None) -> date | None:
    """``2024-12-31``, ``2025年4月17日``, ``2025年01月20日`` or ``20250101``; markers -> None."""
    if s is None:
        return None
    raw = _compact(s)
    if raw in EMPTY_MARKERS:
        return None
    for rx in (_ISO, _CN, _COMPACT):
        m = rx.fullmatch(raw)
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
    raise ValueError(f"not a date: {s!r}")


def parse_period(s: str | None) -> tuple[date, date] | None:
    """A period printed as ``2024-01-01至2024-12-31``, ``2024-01-01 - 2024-06-30``, ``20250101-20250331``
    (single-investor table) or inside ``报告期（2025-01-01 至 2025-03-31）``; None when ``s`` holds no period."""
    if not s:
        return None
    m = _PERIOD.search(unicodedata.normalize("NFKC", s))
    if not m:
        return None
    try:
        start, end = parse_date(m[1]), parse_date(m[2])
    except ValueError:  # digits shaped like dates that are not (20241399): not a period
        return None
    if start is None or end is None:
        return None
    return start, end


def parse_periods(s: str | None) -> list[tuple[date, date]]:
    """Every period printed in ``s`` (a single-investor cell may list several intervals), in order."""
    if not s:
        return []
    periods = []
    for m in _PERIOD.finditer(unicodedata.normalize("NFKC", s)):
        try:
            start, end = parse_date(m[1]), parse_date(m[2])
        except ValueError:
            continue
        if start is not None and end is not None:
            periods.append((start, end))
    return periods
