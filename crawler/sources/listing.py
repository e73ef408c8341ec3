"""The search endpoint's request (``aoData``) and its strictly validated answer.

The answer is parsed twice on purpose: ``json.loads`` with hooks rejects what the JSON grammar in Python
lets through silently (``NaN``/``Infinity``, duplicate keys where the last would win),
then pydantic validates the same bytes in strict JSON mode against :class:`crawler.models.ListingPage`, so a
string ``uploadInfoId``, a ``null`` fundCode or a numeric date is refused, never stored half-filled.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from crawler.exceptions import ListingSchemaError, SourceError
from crawler.models import ListingPage

SEARCH_PATH = "/fund/disclose/advanced_search_xbrl.do"
#: The site returns at most 20 rows per page whatever is asked for.
MAX_PAGE_ROWS = 20
#: DataTables column metadata as the browser UI sent it (M-pf capture); the server ignores it.
_COLUMNS = ("fundCode", "fundId", "organName", "reportSendDate", "reportDesp", "uploadInfoId")
_PATTERNS = {
    "report_type_code": re.compile(r"^[A-Z]{2}[0-9]{3,6}$"),
    "report_year": re.compile(r"^([0-9]{4})?$"),
    "fund_type": re.compile(r"^([0-9]{4}-[0-9]{4})?$"),
    "fund_code": re.compile(r"^([0-9A-Za-z]{6})?$"),
}


def _check_arguments(values: dict[str, str], start: int, length: int) -> None:
    """Our own callers' mistakes are programming errors, not site errors."""
    for name, pattern in _PATTERNS.items():
        if not pattern.match(values[name]):
            raise ValueError(f"{name}={values[name]!r} is not a valid EID search value")
    if start < 0 or not 1 <= length <= MAX_PAGE_ROWS:
        raise ValueError(f"start must be >= 0 and length in 1..{MAX_PAGE_ROWS}")


def search_query(
    echo: int,
    report_type_code: str,
    report_year: str,
    start: int,
    *,
    fund_type: str = "",
    fund_code: str = "",
    send_from: dt.date | None = None,
    send_to: dt.date | None = None,
    length: int = MAX_PAGE_ROWS,
) -> str:
    """The path and query of one search request: ``aoData`` is a URL-encoded JSON list of name/value pairs.

    ``startUploadDate``/``endUploadDate`` filter the report *send* date despite their names (L-inc [V]).
    """
    values = {"report_type_code": report_type_code, "report_year": report_year, "fund_type": fund_type,
              "fund_code": fund_code}
    _check_arguments(values, start, length)
    pairs: list[tuple[str, Any]] = [
        ("sEcho", echo),
        ("iColumns", len(_COLUMNS)),
        ("sColumns", "," * (len(_COLUMNS) - 1)),
        ("iDisplayStart", start),
        ("iDisplayLength", length),
        *((f"mDataProp_{index}", name) for index, name in enumerate(_COLUMNS)),
        ("fundType", fund_type),
        ("reportTypeCode", report_type_code),
        ("reportYear", report_year),
        ("fundCompanyShortName", ""),
        ("fundCode", fund_code),
        ("fundShortName", ""),
        ("startUploadDate", send_from.isoformat() if send_from else ""),
        ("endUploadDate", send_to.isoformat() if send_to else ""),
    ]
    ao_data = json.dumps([{"name": name, "value": value} for name, value in pairs], separators=(",", ":"))
    return f"{SEARCH_PATH}?aoData={quote(ao_data, safe='')}"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate key {duplicate[:40]!r}")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(part) for part in item["loc"]) or "listing"
        got = repr(item.get("input"))[:40]
        parts.append(f"{where}: {item['msg']} (got {got})")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_listing(body: bytes) -> ListingPage:
    """Validate one search answer; SourceError for the site's HTML error page, ListingSchemaError otherwise."""
    if body.lstrip()[:1] == b"<":
        raise SourceError("search answered with an HTML page (the site's system error page), not JSON")
    try:
        json.loads(body, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, RecursionError) as error:
        raise ListingSchemaError(f"listing is not strict JSON: {str(error)[:120]}") from error
    try:
        return ListingPage.model_validate_json(body, strict=True)
    except ValidationError as error:
        raise ListingSchemaError(f"listing rejected: {_describe(error)}") from error
