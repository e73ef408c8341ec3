"""The redirect (``instance_html_view.do``) and report page answers, with per-report faults applied."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.constants import VIEW_PATH
from tests.replica import bodies
from tests.replica.catalogue import Report
from tests.replica.corrections import last_modified
from tests.replica.faults import TRANSIENT
from tests.replica.pages import body_sha, served_body

if TYPE_CHECKING:
    from tests.replica.server import Handler

HTML = "text/html; charset=utf-8"


def base_url(handler: Handler) -> str:
    """The scheme and host the client used (a proxy in front of the replica stays in the Location)."""
    host = handler.headers.get("Host") or handler.state.base_url.split("://", 1)[1]
    return f"http://{host}"


def per_report_transient(handler: Handler, report: Report, kind: str, answer: Callable[[], Any]) -> bool:
    """Apply ``report``'s transient fault to its first k attempts at this URL; True when it answered."""
    if report.fault not in TRANSIENT or report.extra.get("fault_on", "page") != kind:
        return False
    attempt = handler.state.faults.attempt(f"report/{report.upload_info_id}/{kind}")
    if attempt > int(report.extra.get("fault_attempts", 2)):
        return False
    handler.note.update(fault=report.fault, fault_source="report")
    handler.transient(report.fault, answer)
    return True


def answer_redirect(handler: Handler) -> None:
    """302 to the absolute page URL, or the report's redirect fault; unknown ids get the configured status."""
    report = _report_for(handler)
    if report is None:
        status = handler.state.config.unknown_id_status
        handler.send_body(status, bodies.NOT_FOUND_PAGE if status >= 400 else bodies.SYSTEM_ERROR_PAGE, HTML)
        return
    handler.note["id"] = report.upload_info_id
    if per_report_transient(handler, report, "redirect", lambda: _send_redirect(handler, report)):
        return
    _send_redirect(handler, report)


def _report_for(handler: Handler) -> Report | None:
    raw = handler.query.get("instanceid", [""])[0]
    if not raw.isdigit():
        return None
    return handler.state.catalogue.get(int(raw))


def _send_redirect(handler: Handler, report: Report) -> None:
    location = base_url(handler) + report.page_path
    if report.fault == "redirect_other_host":
        port = handler.state.base_url.rsplit(":", 1)[1]
        location = f"http://127.0.0.2:{port}{report.page_path}"
    elif report.fault == "redirect_invalid_host":
        location = f"http://example.invalid{report.page_path}"
    elif report.fault == "redirect_file":
        location = "file:///etc/passwd"
    elif report.fault == "redirect_chain":
        hop = int(handler.query.get("hop", ["0"])[0] or 0)
        if hop < handler.state.config.redirect_chain_hops - 1:
            location = f"{base_url(handler)}{VIEW_PATH}?instanceid={report.upload_info_id}&hop={hop + 1}"
    if report.fault and report.fault.startswith("redirect_"):
        handler.note.update(fault=report.fault, fault_source="report")
    body = f'<html><body><a href="{location}">Moved Temporarily</a></body></html>'.encode()
    handler.send_body(302, body, HTML, {"Location": location})


def answer_page(handler: Handler, path: str) -> None:
    """The report page at its stem path; any other shape under /xbrl/ (XML, XBRL, wrong year) is a 404."""
    report = _report_at(handler, path)
    if report is None:
        handler.send_body(404, bodies.NOT_FOUND_PAGE, HTML)
        return
    handler.note["id"] = report.upload_info_id
    if per_report_transient(handler, report, "page", lambda: _send_page(handler, report)):
        return
    _send_page(handler, report)


def _report_at(handler: Handler, path: str) -> Report | None:
    parts = path[len("/xbrl/REPORT/HTML/"):].split("/")
    if len(parts) != 4 or parts[3] != parts[2] + ".html":
        return None
    report = handler.state.catalogue.by_stem(parts[2])
    if report is None or str(report.filing_year) != parts[0] or report.report_type_code != parts[1]:
        return None
    return report


def _send_page(handler: Handler, report: Report) -> None:
    fault = report.fault
    if fault in PAGE_ANSWERS:
        handler.note.update(fault=fault, fault_source="report")
        PAGE_ANSWERS[fault](handler, report)
        return
    content_type = "text/html; charset=gb2312" if fault == "gb2312_mislabel" else HTML
    if fault in ("gb2312_mislabel", "deep_nesting"):
        handler.note.update(fault=fault, fault_source="report")
    validators: dict[str, str] = {}
    if handler.state.config.conditional_requests and fault is None:
        validators = page_validators(handler, report)
        if not_modified(handler, validators):
            handler.note["not_modified"] = True
            handler.send_body(304, b"", content_type, validators)
            return
    handler.send_body(200, served_body(handler.state, report), content_type, validators)


def page_validators(handler: Handler, report: Report) -> dict[str, str]:
    """``ETag`` (from the bytes) and ``Last-Modified`` (the page file's time), as Apache sends for static files."""
    modified = last_modified(report, handler.state.started)
    return {"ETag": f'"{body_sha(handler.state, report)[:16]}"',
            "Last-Modified": email.utils.formatdate(modified, usegmt=True)}


def not_modified(handler: Handler, validators: dict[str, str]) -> bool:
    """RFC 9110: If-None-Match decides when present; otherwise If-Modified-Since at or after Last-Modified."""
    if_none_match = handler.headers.get("If-None-Match")
    if if_none_match is not None:
        return validators["ETag"] in [tag.strip() for tag in if_none_match.split(",")] or if_none_match.strip() == "*"
    since = handler.headers.get("If-Modified-Since")
    if not since:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False
    return int(email.utils.parsedate_to_datetime(validators["Last-Modified"]).timestamp()) <= when


def _huge(handler: Handler, report: Report) -> None:
    size = handler.state.config.huge_body_bytes
    headers = {"Content-Type": HTML, "Content-Length": str(size)}
    handler.send_stream(200, bodies.filler_stream(size), headers, chunked=False)


def _endless(handler: Handler, report: Report) -> None:
    handler.send_stream(200, bodies.endless_chunks(), {"Content-Type": HTML}, chunked=True)


def _bomb(layers: int) -> Callable[[Handler, Report], None]:
    def send(handler: Handler, report: Report) -> None:
        body = bodies.gzip_bomb(handler.state.config.bomb_decoded_bytes, layers)
        handler.send_body(200, body, HTML, {"Content-Encoding": ", ".join(["gzip"] * layers)})

    return send


PAGE_ANSWERS: dict[str, Callable[[Handler, Report], None]] = {
    "not_found": lambda h, r: h.send_body(404, bodies.NOT_FOUND_PAGE, HTML),
    "malformed": lambda h, r: h.send_body(200, bodies.MALFORMED_PAGE, HTML),
    "always_503": lambda h, r: h.send_body(503, bodies.BUSY_PAGE, HTML),
    "always_trickle": lambda h, r: h.trickle_headers(),
    "huge_body": _huge,
    "endless_body": _endless,
    "gzip_bomb": _bomb(1),
    "gzip_gzip_bomb": _bomb(2),
}
