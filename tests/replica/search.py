"""``advanced_search_xbrl.do``: aoData parsing, filters, the 20-row cap, order modes."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import urllib.parse
from typing import Any

from crawler.models import REPORT_KINDS_BY_CODE
from tests.replica.catalogue import Report, stable_int
from tests.replica.faults import LISTING_FAULTS
from tests.replica.state import ReplicaState
from tests.replica.synthetic import Partition

PAGE_CAP = 20
FILTER_NAMES = (
    "reportTypeCode", "reportYear", "fundType", "fundCode", "fundCompanyShortName", "fundShortName",
    "startUploadDate", "endUploadDate",
)


class BadAoData(ValueError):
    """aoData is missing or not a JSON list of {name, value}: the site answers its system error page."""


def parse_aodata(query: dict[str, list[str]]) -> dict[str, str]:
    """aoData as a name -> value mapping; Chinese values may be raw or percent-encoded inside the JSON."""
    raw = query.get("aoData")
    if not raw:
        raise BadAoData("no aoData")
    try:
        items = json.loads(raw[0])
    except ValueError as error:
        raise BadAoData(f"aoData is not JSON: {error}") from error
    if not isinstance(items, list) or not all(isinstance(item, dict) and "name" in item for item in items):
        raise BadAoData("aoData is not a list of {name, value}")
    params: dict[str, str] = {}
    for item in items:
        value = item.get("value", "")
        text = "" if value is None else str(value)
        params[str(item["name"])] = urllib.parse.unquote(text) if "%" in text else text
    return params


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        return int(float(params.get(name, default)))
    except ValueError:
        return default


def search(state: ReplicaState, params: dict[str, str], note: dict[str, Any] | None = None) -> dict[str, Any]:
    """One page of results in the site's JSON shape; ``note`` (the request log entry) gets rows and faults."""
    call = state.next_search_call()
    filters = {name: params.get(name, "") for name in FILTER_NAMES}
    with state.catalogue.lock:
        if state.config.order == "drift":
            drift(state, filters)
        rows = state.catalogue.search(filters)
    if state.config.order == "shuffle" or (state.config.order == "drift" and state.config.drift_reshuffle):
        random.Random(stable_int(state.seed, "shuffle", call)).shuffle(rows)
    start = max(0, _int(params, "iDisplayStart", 0))
    length = _int(params, "iDisplayLength", PAGE_CAP)
    size = PAGE_CAP if length <= 0 else min(length, PAGE_CAP)
    page = rows[start : start + size]
    spoiled = [report.upload_info_id for report in page if report.fault in LISTING_FAULTS]
    if note is not None:
        note.update(rows=len(page), total=len(rows))
        if spoiled:
            note.update(fault="listing", fault_source="report", spoiled_ids=spoiled)
    return {
        "iTotalRecords": len(rows),
        "iTotalDisplayRecords": len(rows),
        "sEcho": _int(params, "sEcho", 0),
        "aaData": [listing_row(report) for report in page],
    }


def listing_row(report: Report) -> dict[str, Any]:
    """The row, spoiled the way a listing fault says (wrong types, null, NaN, a traversal id)."""
    row = report.listing_row()
    if report.fault == "listing_string_id":
        row["uploadInfoId"] = str(report.upload_info_id)
    elif report.fault == "listing_null_fund_code":
        row["fundCode"] = None
    elif report.fault == "listing_nan":
        row["fundId"] = math.nan
    elif report.fault == "listing_traversal_id":
        row["uploadInfoId"] = f"../../../etc/passwd#{report.upload_info_id}"
    elif report.fault == "listing_sql_id":
        row["uploadInfoId"] = f"{report.upload_info_id} OR 1=1; DROP TABLE reports; --"
    elif report.fault == "listing_long_id":
        row["uploadInfoId"] = str(report.upload_info_id) * 1250
    return row


def drift(state: ReplicaState, filters: dict[str, str]) -> None:
    """Insert new reports into the queried partition between page calls, so the total moves mid-walk."""
    config = state.config
    room = config.drift_max_inserts - state.drift_inserted
    count = min(config.drift_inserts_per_call, room)
    if count <= 0:
        return
    code = filters["reportTypeCode"] or "FB030010"
    if code not in REPORT_KINDS_BY_CODE:
        code = next((r.report_type_code for r in state.catalogue.all() if r.report_type_code.startswith(code)),
                    "FB030010")
    year = filters["reportYear"] or next(
        (r.report_year for r in state.catalogue.all() if r.report_type_code == code), "2025")
    send = _drift_send_date(state, code, year, filters)
    state.publisher.publish(
        count, Partition(code, year), fund_type=filters["fundType"], send_from=send, send_to=send,
    )
    state.drift_inserted += count


def _drift_send_date(state: ReplicaState, code: str, year: str, filters: dict[str, str]) -> dt.date | None:
    """A send date inside the query's window, so the new rows really count in the walk's total."""
    if filters["endUploadDate"]:
        return dt.date.fromisoformat(filters["endUploadDate"])
    if filters["startUploadDate"]:
        return dt.date.fromisoformat(filters["startUploadDate"])
    dates = [r.send_date for r in state.catalogue.all() if r.report_type_code == code and r.report_year == year]
    return max(dates) if dates else None
