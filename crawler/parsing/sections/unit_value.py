"""NAV per unit where the page states it in words rather than in a 期末基金份额净值 row.

Money-market funds value their assets at amortised cost and keep each share at 1.00 yuan, so their
indicator table may print no NAV row; the page says it in prose or a note instead (``本基金…基金份额净值保持为
人民币1.00元``). Other funds state the period-end figure in words too (``截至本报告期末本基金份额净值为0.952元``,
``报告截止日2024年12月31日，基金份额净值为人民币1.243元``).

Only two statement forms count, and nothing is inferred: a value the share is kept at (``保持/维持…X元``),
and a period-end value (``份额净值为X元`` in a sentence about the report period's end; a sentence naming
another date is skipped). Face values (``面值``) and issue prices (``发行价格``) never match. The subject must
name the fund (``本基金``, the short name) or a share class as printed; a fund-level period-end figure of a
multi-class fund, or a subject this module cannot tie to the fund or a class, is left out rather than
guessed. Two statements that disagree for one key are a section error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from typing import TypedDict

from crawler.exceptions import ParseError
from crawler.models import ByClass, NavSource
from crawler.parsing.dom import Page, Section
from crawler.parsing.sections.tables import TOTAL, suffix_class

SOURCE_SECTION = "nav_per_unit_text"


class StatedNavPart(TypedDict, total=False):
    """The document keys a NAV per unit stated in words fills."""

    nav_per_unit: ByClass
    nav_per_unit_source: dict[str, NavSource]

#: A period-end value: ``…份额净值为（人民币）X元``; the subject is the clause text before it.
_STATED = re.compile(r"(?P<subject>[^，,。；;：:]*?)份额净值为(?:人民币)?(?P<value>\d+\.\d+)元")
#: A value the share is kept at (money-market funds): ``…份额净值（始终）保持为（人民币）1.00元``.
_KEPT = re.compile(
    r"(?P<subject>[^，,。；;：:]*?)份额净值(?:始终|均|将)?(?:保持|维持|固定)(?:为|在)?(?:人民币)?(?P<value>\d+\.\d+)元"
)
#: Words that put a sentence at the report period's end; a 报告截止日 date must be the period end.
_PERIOD_END = re.compile(r"(?:截至|截止)?(?:本)?报告期末|报告截止日(?:(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日)?")
_SENTENCE = re.compile(r"[^。]+")
_LEADING = re.compile(r"^(?:注[:：]?)?\s*(?:\d+\s*[、.．)）]\s*)?(?:截至|截止)?")
#: A clause naming a fund, a plan or a lettered class.
_NAMES_A_FUND = re.compile(r"基金|计划|[A-Z]$")
#: How the text names the fund itself.
_SELF = ("本基金", "本集合计划", "本计划", "")


def parse_stated_nav(
    page: Page, class_names: Sequence[str], fund_names: Sequence[str], period_end: str | None
) -> StatedNavPart:
    """``nav_per_unit`` from the text plus ``nav_per_unit_source`` (where each value was stated), or {}."""
    values: ByClass = {}
    sources: dict[str, NavSource] = {}
    for section, sentence in _sentences(page):
        for key, value in _statements(sentence, class_names, fund_names, period_end):
            if key in values and values[key] != value:
                raise ParseError(
                    f"NAV per unit stated as both {values[key]} and {value} for {key}", section=SOURCE_SECTION
                )
            if key not in values:
                values[key] = value
                sources[key] = {"from": "text", "section": section.heading, "text": sentence.strip() + "。"}
    return {"nav_per_unit": values, "nav_per_unit_source": sources} if values else {}


def _sentences(page: Page) -> Iterator[tuple[Section, str]]:
    """Prose and notes that mention a unit value, sentence by sentence, in document order."""
    for section in page.sections:
        for text in [*section.prose, *section.notes]:
            if "份额净值" not in text:
                continue
            for sentence in _SENTENCE.findall(text):
                yield section, sentence


def _statements(
    sentence: str, class_names: Sequence[str], fund_names: Sequence[str], period_end: str | None
) -> Iterator[tuple[str, float]]:
    for m in _KEPT.finditer(sentence):
        key = _subject_key(m["subject"], class_names, fund_names, fund_level=True)
        if key is not None:
            yield key, float(m["value"])
    if not _at_period_end(sentence, period_end):
        return
    for m in _STATED.finditer(sentence):
        key = _subject_key(m["subject"], class_names, fund_names, fund_level=len(class_names) < 2)
        if key is not None:
            yield key, float(m["value"])


def _at_period_end(sentence: str, period_end: str | None) -> bool:
    found = False
    for m in _PERIOD_END.finditer(sentence):
        if m["y"] is not None:
            stated = dt.date(int(m["y"]), int(m["m"]), int(m["d"])).isoformat()
            if stated != period_end:
                return False
        found = True
    return found


def _subject_key(
    subject: str, class_names: Sequence[str], fund_names: Sequence[str], *, fund_level: bool
) -> str | None:
    """The class named by the clause before ``份额净值``, ``total`` for the fund itself, else None.

    A clause that names no fund at all (``…使基金份额净值保持为1.00元``) speaks of the report's own fund; one
    that names some other fund or plan (``所投资货币市场基金的…``), or a class this page does not list, is
    not taken.
    """
    text = _LEADING.sub("", _PERIOD_END.sub("", subject).strip()).strip()
    text = text.removesuffix("的")
    if text not in _SELF and text.endswith("基金"):
        text = text[: -len("基金")].removesuffix("的")
    if text in class_names:
        return text
    for own in _SELF[:-1]:
        if text.startswith(own) and text != own:
            key = suffix_class(text[len(own) :], class_names)
            return key if key in class_names else None
    if text in _SELF or text in fund_names or not _NAMES_A_FUND.search(text):
        return TOTAL if fund_level else None
    return None
