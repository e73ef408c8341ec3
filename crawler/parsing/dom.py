"""A report page as a flat list of sections: the one place that knows the EID markup.

The EID body is a flat run of blocks: a heading cell (``td.write_text`` or
``td.write_text_level3``), anchors, a unit line (``p.dw``), data tables (``table.bb``) and notes
(``table.text``). The lxml tree is built once with comments dropped (102 commented-out blocks of real
markup hide in them) and linearised in one document-order pass; every section parser then reads the
``Section`` objects instead of the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from crawler.exceptions import ParseError
from crawler.parsing.table import Cell, Table, clear_cell_memo, normalise

#: EID pages are UTF-8; forcing it also covers pages without the meta declaration,
#: which libxml2 would otherwise read as Latin-1.
_PARSER = etree.HTMLParser(
    encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=False, no_network=True
)
#: Tags of the blocks the linearising pass looks at (libxml2's XPath union is slower than one iter()).
_EVENT_TAGS = ("td", "a", "p", "table")
_STRING = etree.XPath("string()")

__all__ = ["Cell", "Page", "Section", "Table", "clear_cell_memo", "load_page", "normalise"]


@dataclass(slots=True)
class Section:
    """The span from one heading to the next, with what it holds."""

    heading: str
    level: int
    index: int
    anchors: list[str] = field(default_factory=list)
    unit: str | None = None
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Prose cells (``td.Contentbox``), kept as elements: only the few parsers that read prose pay for its text.
    prose_cells: list[etree._Element] = field(default_factory=list)

    @property
    def prose(self) -> list[str]:
        """The section's prose paragraphs, whitespace-normalised (``<br/>`` breaks become spaces)."""
        return [text for text in (normalise(_text(td)) for td in self.prose_cells) if text]

    @property
    def table(self) -> Table | None:
        """The first data table of the span, or None when the section prints none (empty section)."""
        return self.tables[0] if self.tables else None


@dataclass(slots=True)
class Page:
    """A parsed report page: banner lines and the sections in document order."""

    banner: list[str]
    sections: list[Section]

    def find(self, pattern: str | re.Pattern[str], *, after: Section | None = None) -> Section | None:
        """First section whose normalised heading matches ``pattern`` (``re.search``) after ``after``."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        start = after.index + 1 if after is not None else 0
        for section in self.sections[start:]:
            if rx.search(section.heading):
                return section
        return None

    def find_all(self, pattern: str | re.Pattern[str]) -> list[Section]:
        """Every section whose heading matches ``pattern`` (``re.search``), in document order."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        return [s for s in self.sections if rx.search(s.heading)]


def load_page(html: bytes | str) -> Page:
    """Parse a page once and linearise it; ``ParseError`` when it is not a report page at all."""
    if isinstance(html, str):
        html = html.encode("utf-8")
    if not html.strip():
        raise ParseError("not a report page")
    root = etree.fromstring(html, _PARSER)
    if root is None:
        raise ParseError("not a report page")
    banner_div = root.find(".//div[@id='banner']")
    if banner_div is None and root.find(".//div[@id='instance_navigation']") is None:
        raise ParseError("not a report page")
    banner = _banner_lines(banner_div) if banner_div is not None else []
    return Page(banner=banner, sections=list(_linearise(root)))


def _banner_lines(div: etree._Element) -> list[str]:
    """Banner ``p`` texts; the title may be split by ``<br/>``, so text nodes join with no separator."""
    lines = []
    for p in div.iter("p"):
        text = "".join(normalise(t) for t in p.itertext())
        if text:
            lines.append(text)
    return lines


def _linearise(root: etree._Element) -> Iterator[Section]:
    """Walk the heading/anchor/unit/table/note blocks once, in document order, into sections."""
    current: Section | None = None
    index = 0
    for el in root.iter(_EVENT_TAGS):
        cls = el.get("class")
        if el.tag == "a":
            name = el.get("name")
            if name is not None and current is not None:
                current.anchors.append(name)
        elif cls is None:
            continue
        elif el.tag == "td":
            if cls.startswith("write_text"):
                if current is not None:
                    yield current
                current = Section(_heading(el), 3 if "level3" in cls else 2, index)
                index += 1
            elif cls == "Contentbox" and current is not None:
                current.prose_cells.append(el)
        elif current is None:
            continue
        elif el.tag == "table":
            _add_block(current, el, cls)
        elif cls == "dw":
            current.unit = normalise(_text(el))
    if current is not None:
        yield current


def _heading(td: etree._Element) -> str:
    """Heading text; a heading cell almost always holds a single text node."""
    return normalise(td.text or "") if not len(td) else normalise(_text(td))


def _add_block(section: Section, table: etree._Element, cls: str) -> None:
    """A ``table.bb`` becomes a (lazily read) Table; a non-empty ``table.text`` a note."""
    if cls == "bb":
        section.tables.append(Table(element=table))
    elif cls == "text":
        note = normalise(_text(table))
        if note:
            section.notes.append(note)


def _text(el: etree._Element) -> str:
    return str(_STRING(el))
