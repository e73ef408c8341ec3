"""Report bodies: a corpus file read from disk, or a page the generator writes from the report's seed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.replica import bodies
from tests.replica.catalogue import Report
from tests.replica.faults import expected_outcome
from tests.replica.generator import PageSpec, generate_page
from tests.replica.state import ReplicaState


def page_spec(report: Report) -> PageSpec:
    """What the generator needs to write ``report``'s page."""
    extra = report.extra
    return PageSpec(
        fund_code=report.fund_code,
        fund_name=extra.get("fund_name", report.fund_short_name),
        short_name=extra.get("short_name", report.fund_short_name),
        manager=extra.get("manager", report.organ_name),
        custodian=extra.get("custodian", "中国工商银行股份有限公司"),
        report_kind=report.report_kind,
        report_year=int(report.report_year or report.send_date.year),
        send_date=report.send_date,
        fund_type=report.fund_type,
        classes=int(extra.get("classes", 0)),
        inception=extra.get("inception", "2015-06-01"),
        seed=report.page_seed,
    )


def clean_body(report: Report) -> bytes:
    """The page as the site serves it when nothing goes wrong."""
    if report.corpus_file:
        body = Path(report.corpus_file).read_bytes()
        revision = int(report.extra.get("revision", 0))
        # A corpus page cannot get new figures: a corrected one differs by a marker, enough to change its bytes.
        return body.replace(b"</html>", f"<!-- corrected {revision} -->\n</html>".encode(), 1) if revision else body
    return generate_page(page_spec(report)).html


def expected_document(report: Report) -> dict[str, Any] | None:
    """The generator's ``fundcrawl.report/1`` oracle for a generated page (None for corpus pages)."""
    if report.corpus_file:
        return None
    return generate_page(page_spec(report)).expected


def served_body(state: ReplicaState, report: Report) -> bytes:
    """The body of a 200 page answer, with the body-changing faults that still end ``stored`` applied."""
    body = clean_body(report)
    if report.fault == "deep_nesting":
        return bodies.deep_nesting(body, state.config.nesting_depth)
    if report.fault == "gb2312_mislabel":
        return bodies.gb2312_mislabelled(body)
    return body


def oracle_entry(state: ReplicaState, report: Report) -> dict[str, Any]:
    """id -> expected sha256 of the body, terminal state and reason."""
    outcome = expected_outcome(report.fault)
    sha = None
    if outcome["state"] == "stored" or any(o["state"] == "stored" for o in outcome["also_accepted"]):
        sha = body_sha(state, report)
    return {"upload_info_id": report.upload_info_id, "fault": report.fault, "sha256": sha, **outcome,
            "sha256_alternatives": _alternatives(state, report),
            "fund_code": report.fund_code, "report_type_code": report.report_type_code,
            "report_year": report.report_year, "send_date": report.send_date.isoformat()}


def _alternatives(state: ReplicaState, report: Report) -> list[str]:
    """Other bodies a client may rightly store: a mislabelled GB page transcoded to UTF-8 (with its meta
    charset rewritten, or as is)."""
    if report.fault != "gb2312_mislabel":
        return []
    text = served_body(state, report).decode("gb18030")
    variants = (text.replace("charset=gb2312", "charset=utf-8", 1), text)
    return [hashlib.sha256(variant.encode("utf-8")).hexdigest() for variant in variants]


def body_sha(state: ReplicaState, report: Report) -> str:
    key = (report.upload_info_id, report.fault)
    cached = state.cached_sha(key)
    if cached is None:
        cached = hashlib.sha256(served_body(state, report)).hexdigest()
        state.remember_sha(key, cached)
    return cached
