"""The control API under ``/_replica/`` (JSON), so tests, chaos scripts and benches in other processes drive it.

    GET    health                      {"ok", "url", "reports", "requests" (= log length)}
    GET    config | POST config        switches (see state.Config); POST takes a partial object
    POST   order                       {"mode": "stable"|"shuffle"|"drift", drift_* options}
    GET    faults | POST faults        the transient mix: {"rate", "kinds", "paths", "max_failures", "seed"}
    DELETE faults                      no mix
    POST   reports/<id>/fault          {"fault": name|null, "attempts": k, "on": "page"|"redirect"}
    POST   reports/<id>/correct        {"mode": "in_place"|"new_id", "days_later": 1} -> the corrected report
                                       ({"upload_info_id", "send_date", "revision"}; a new id for new_id)
    POST   publish                     {"count", "report_type_code", "report_year", "fund_type",
                                        "send_from", "send_to", "faults": {name: n}} -> {"ids": [...]};
                                       with "rate": r, publishes one report every 1/r s in the background
    GET    catalogue[?ids=1,2]         {"reports": [...]}
    GET    oracle[?ids=1,2]            {"reports": {id: {sha256, state, reason, also_accepted, ...}}}
    GET    expected/<id>               the generator's fundcrawl.report/1 document for a generated page
    GET    log[?since=N&limit=M]       {"entries": [...], "next": N}
    DELETE log                         forget the request log
    POST   reset                       forget log, attempt counters, faults and switches (keep reports)
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from tests.replica import corrections
from tests.replica.faults import FaultMix, known_fault
from tests.replica.pages import expected_document, oracle_entry
from tests.replica.synthetic import Partition, assign_fault

if TYPE_CHECKING:
    from tests.replica.server import Handler


class ControlError(ValueError):
    """A bad control request: answered 400 with the message."""


def handle(handler: Handler, route: str) -> None:
    """Answer one control request."""
    try:
        body = _read_json(handler)
        status, data = _route(handler, handler.command, route.strip("/"), body)
    except (ControlError, ValueError, KeyError, TypeError) as error:
        status, data = 400, {"error": f"{type(error).__name__}: {error}"}
    handler.send_json(status, data)


def _read_json(handler: Handler) -> dict[str, Any]:
    if not handler.body:
        return {}
    data = json.loads(handler.body.decode("utf-8"))
    if not isinstance(data, dict):
        raise ControlError("body must be a JSON object")
    return data


def _ids(handler: Handler) -> list[int] | None:
    raw = handler.query.get("ids", [""])[0]
    return [int(part) for part in raw.split(",") if part] if raw else None


def _route(handler: Handler, method: str, route: str, body: dict[str, Any]) -> tuple[int, Any]:
    state = handler.state
    key = (method, route)
    if route in ("health", "log"):
        state.log.settle()
    if key == ("GET", "health"):
        return 200, {"ok": True, "url": state.base_url, "reports": len(state.catalogue), "requests": len(state.log)}
    if key == ("GET", "config"):
        return 200, state.config.to_json()
    if key == ("POST", "config"):
        state.config.update(body)
        return 200, state.config.to_json()
    if key == ("POST", "order"):
        return _order(handler, body)
    if route == "faults":
        return _faults(handler, method, body)
    if method == "POST" and route.startswith("reports/") and route.endswith("/fault"):
        return _report_fault(handler, int(route.split("/")[1]), body)
    if method == "POST" and route.startswith("reports/") and route.endswith("/correct"):
        return _correct(handler, int(route.split("/")[1]), body)
    if key == ("POST", "publish"):
        return _publish(handler, body)
    if key == ("GET", "catalogue"):
        return 200, {"reports": [r.to_json() for r in _selected(handler)]}
    if key == ("GET", "oracle"):
        return 200, {"reports": {str(r.upload_info_id): oracle_entry(state, r) for r in _selected(handler)}}
    if method == "GET" and route.startswith("expected/"):
        return _expected(handler, int(route.split("/")[1]))
    if route == "log":
        return _log(handler, method)
    if key == ("POST", "reset"):
        state.reset()
        return 200, {"ok": True}
    return 404, {"error": f"no control route {method} /_replica/{route}"}


def _selected(handler: Handler) -> list[Any]:
    ids = _ids(handler)
    catalogue = handler.state.catalogue
    if ids is None:
        return list(catalogue.all())
    return [report for report in map(catalogue.get, ids) if report is not None]


def _order(handler: Handler, body: dict[str, Any]) -> tuple[int, Any]:
    changes = {f"drift_{k}" if not k.startswith("drift_") and k != "mode" else k: v for k, v in body.items()}
    changes["order"] = changes.pop("mode", "stable")
    handler.state.config.update(changes)
    handler.state.drift_inserted = 0
    return 200, handler.state.config.to_json()


def _faults(handler: Handler, method: str, body: dict[str, Any]) -> tuple[int, Any]:
    faults = handler.state.faults
    if method == "POST":
        faults.set_mix(FaultMix.from_json(body))
    elif method == "DELETE":
        faults.set_mix(FaultMix())
    return 200, faults.mix.to_json()


def _report_fault(handler: Handler, upload_info_id: int, body: dict[str, Any]) -> tuple[int, Any]:
    report = handler.state.catalogue.get(upload_info_id)
    if report is None:
        return 404, {"error": f"no report {upload_info_id}"}
    fault = body.get("fault")
    if not known_fault(fault):
        raise ControlError(f"unknown fault {fault!r}")
    assign_fault(report, fault, int(body.get("attempts", 2)))
    report.extra["fault_on"] = body.get("on", "page")
    handler.state.faults.forget(f"report/{upload_info_id}/")
    return 200, report.to_json()


def _correct(handler: Handler, upload_info_id: int, body: dict[str, Any]) -> tuple[int, Any]:
    report = handler.state.catalogue.get(upload_info_id)
    if report is None:
        return 404, {"error": f"no report {upload_info_id}"}
    corrected = corrections.correct(handler.state, report, str(body.get("mode", "in_place")),
                                    int(body.get("days_later", 1)))
    return 200, corrections.to_json(corrected)


def _publish(handler: Handler, body: dict[str, Any]) -> tuple[int, Any]:
    faults = body.get("faults") or {}
    bad = [name for name in faults if not known_fault(name)]
    if bad:
        raise ControlError(f"unknown faults {bad}")
    partition = Partition(str(body.get("report_type_code", "FB030010")), str(body.get("report_year", "2025")))
    options: dict[str, Any] = {"fund_type": str(body.get("fund_type", "")), "send_from": _date(body.get("send_from")),
               "send_to": _date(body.get("send_to"))}
    count, rate = int(body.get("count", 1)), float(body.get("rate", 0))
    if rate > 0:
        handler.state.publish_at_rate(count, rate, partition, options)
        return 200, {"ids": [], "scheduled": count, "rate": rate}
    reports = handler.state.publisher.publish(
        count, partition, faults={str(k): int(v) for k, v in faults.items()}, **options)
    return 200, {"ids": [r.upload_info_id for r in reports], "reports": [r.to_json() for r in reports]}


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _expected(handler: Handler, upload_info_id: int) -> tuple[int, Any]:
    report = handler.state.catalogue.get(upload_info_id)
    document = expected_document(report) if report else None
    if document is None:
        return 404, {"error": f"no generated report {upload_info_id}"}
    return 200, document


def _log(handler: Handler, method: str) -> tuple[int, Any]:
    log = handler.state.log
    if method == "DELETE":
        log.reset()
        return 200, {"ok": True}
    since = int(handler.query.get("since", ["0"])[0])
    limit = handler.query.get("limit", [""])[0]
    entries = log.since(since, int(limit) if limit else None)
    return 200, {"entries": entries, "next": since + len(entries)}
