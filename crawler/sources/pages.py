"""Judging a downloaded report page: content type, site error pages, report markers, text encoding.

The site serves report pages as UTF-8. What we hand on is always UTF-8 with a UTF-8
declaration, so the archive, the parser and the hash never need to know what the source sent:

- a UTF-8 page is returned byte-for-byte as received;
- a page labelled gb2312/gbk/gb18030 is decoded as GB18030 (its superset: decoding such a page as gb2312
  turns ``·—`` into ``・―``), re-encoded as UTF-8, and its ``<meta>`` charset is
  rewritten to ``utf-8`` so that a parser reading the bytes does not decode them a second time as GB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crawler.exceptions import EncodingError, NotAReportError, SourceError

#: More replacement characters than this share of the text means the bytes are not in the declared encoding.
MAX_REPLACEMENT_RATIO = 0.001
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_GB_LABELS = frozenset({"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "gb_2312-80", "csgb2312", "euc-cn"})
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_TITLE = re.compile(r"<title>\s*XBRL\s*</title>", re.IGNORECASE)
#: Texts of the pages the site (or a gateway) serves with status 200 when it is busy or failing: worth a
#: retry. Any other HTML (a portal or login page, say) is not a report and retrying will not change that.
_ERROR_PAGE_MARKERS = ("系统繁忙", "请稍后再试", "系统错误", "系统异常", "访问过于频繁", "服务器繁忙",
                       "system error", "system busy", "too many requests")
_HEAD_BYTES = 4096


@dataclass(frozen=True)
class ReportBody:
    """A page that passed every check: UTF-8 bytes to archive and the text they decode to."""

    body: bytes
    text: str
    source_encoding: str


def check_content_type(content_type: str) -> None:
    """A report page is HTML; anything else (JSON, octet-stream, nothing) is a misbehaving answer."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in _HTML_TYPES:
        raise SourceError(f"unexpected content type {content_type[:60]!r} for a report page")


def normalise_charset(label: str) -> str:
    """``utf-8`` or ``gb18030``: the only encodings this site uses; unknown labels are read as UTF-8."""
    label = label.strip().lower()
    return "gb18030" if label in _GB_LABELS else "utf-8"


def _candidates(body: bytes, content_type: str) -> list[str]:
    """Encodings to try, most authoritative first: BOM, then the HTTP header, then the ``<meta>`` tag."""
    if body.startswith(b"\xef\xbb\xbf"):
        return ["utf-8"]
    found: list[str] = []
    header = _HEADER_CHARSET.search(content_type)
    meta = _META_CHARSET.search(body[:_HEAD_BYTES])
    for label in (header.group(1) if header else None, meta.group(1).decode("ascii") if meta else None):
        if label is not None and normalise_charset(label) not in found:
            found.append(normalise_charset(label))
    return found or ["utf-8"]


def decode_page(body: bytes, content_type: str) -> tuple[str, str]:
    """Decode with the declared encoding; when header and meta disagree, take the one that decodes cleanly."""
    options = []
    for rank, encoding in enumerate(_candidates(body, content_type)):
        text = body.decode(encoding, errors="replace")
        options.append((text.count("\ufffd"), rank, encoding, text))
    _, _, encoding, text = min(options)
    return text, encoding


def classify(text: str) -> None:
    """Raise unless ``text`` is a report page: SourceError for a site error page, else NotAReportError."""
    if _TITLE.search(text) and "instance_navigation" in text and "送出日期" in text:
        return
    lowered = text[:20000].lower()
    for marker in _ERROR_PAGE_MARKERS:
        if marker in lowered:
            raise SourceError(f"the site answered with its error page ({marker!r})")
    raise NotAReportError("200 but not a report page: no XBRL title, instance_navigation or 送出日期")


def check_encoding(text: str, encoding: str) -> None:
    """Refuse a body whose bytes are not in its declared encoding (mixed or mislabelled)."""
    bad = text.count("\ufffd")
    if bad > MAX_REPLACEMENT_RATIO * max(len(text), 1):
        raise EncodingError(f"{bad} undecodable sequences in {len(text)} characters as {encoding}")


def to_utf8(text: str, body: bytes, encoding: str) -> bytes:
    """The bytes to hand on: the original when it was UTF-8, else UTF-8 with the meta charset rewritten."""
    if encoding == "utf-8":
        return body
    head, rest = text[:_HEAD_BYTES], text[_HEAD_BYTES:]
    head = re.sub(r"(<meta[^>]*?charset\s*=\s*[\"']?\s*)[A-Za-z0-9_.:-]+", r"\1utf-8", head, flags=re.IGNORECASE)
    return (head + rest).encode("utf-8")


def judge_report_page(body: bytes, content_type: str) -> ReportBody:
    """Every check a 200 report answer must pass before anything is archived."""
    check_content_type(content_type)
    text, encoding = decode_page(body, content_type)
    classify(text)
    check_encoding(text, encoding)
    return ReportBody(to_utf8(text, body, encoding), text, encoding)
