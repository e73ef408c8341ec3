"""Corrections as managers publish them: a new page behind the same uploadInfoId, or a new id for the same slot.

Which one EID does for XBRL reports is not known, so the replica can do both, from tests:

- ``in_place``: the report's page changes (generated pages get new figures from a new seed; corpus pages get a
  marker comment), its ``Last-Modified`` moves to now and its ``ETag`` to the new bytes;
- ``new_id``: a new listing row for the same fund, report type and year, sent ``days_later`` days after the
  original (0 keeps the send date), with its own corrected page; the original stays listed and served.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

from tests.replica.catalogue import Report
from tests.replica.state import ReplicaState

#: New-id corrections take ids above anything the publisher hands out (22.2M-23.1M), so they are the newest.
CORRECTION_IDS_FROM = 23_500_000
MODES = ("in_place", "new_id")


def correct(state: ReplicaState, report: Report, mode: str, days_later: int = 1) -> Report:
    """Apply one correction; returns the report whose page now carries it (the same one, or the new one)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if mode == "in_place":
        with state.catalogue.lock:
            report.extra["revision"] = int(report.extra.get("revision", 0)) + 1
            report.extra["modified_at"] = time.time()
            report.page_seed += 7919
            state.forget_sha(report.upload_info_id)
        return report
    corrected = dataclasses.replace(
        report,
        upload_info_id=state.catalogue.free_id(CORRECTION_IDS_FROM),
        send_date=report.send_date + dt.timedelta(days=days_later),
        upload_date=report.send_date + dt.timedelta(days=days_later),
        page_seed=report.page_seed + 104729,
        fault=None,
        extra={**report.extra, "corrects": report.upload_info_id, "modified_at": time.time()},
    )
    return state.catalogue.add(corrected)


def last_modified(report: Report, started: float) -> float:
    """When the report's page file last changed: its correction, else when the replica started."""
    return float(report.extra.get("modified_at") or started)


def to_json(report: Report) -> dict[str, Any]:
    return {"upload_info_id": report.upload_info_id, "send_date": report.send_date.isoformat(),
            "revision": int(report.extra.get("revision", 0))}
