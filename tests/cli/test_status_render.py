"""The human form of ``fundcrawl status``: columns that line up whatever the partition names, timestamps to the
second, and an explanation for partitions whose site total is unknown."""

from __future__ import annotations

import datetime as dt

from crawler.cli.status import render


def _partition(code: str, year: str, site_total: int | None, complete: bool) -> dict[str, object]:
    return {"report_type_code": code, "report_year": year, "fund_type": "", "site_total": site_total,
            "discovered": 3, "stored": 3, "failed": 0, "complete": complete,
            "last_checked": "2026-12-04T15:09:54.871234+00:00", "last_error": None}


def test_partition_rows_line_up_and_unknown_totals_are_explained() -> None:
    status = {
        "reports": {"total": 9, "stored": 9, "pending": 0, "failed": 0},
        "oldest_pending": None,
        "partitions": [_partition("FB010010", "2025", 3, True), _partition("FA010070", "", None, False),
                       _partition("FA010080", "", None, False)],
        "last_runs": [{"started_at": dt.datetime(2026, 12, 4, 15, 9, 54, 871234, tzinfo=dt.UTC),
                       "schedule": "fund-profiles", "kind": "scheduled", "status": "ok", "listed": 6, "new": 6,
                       "requests": 2, "error": None}],
        "recent_failures": [],
        "parse_flags": {"flagged_reports": 0, "unknown_sections": {}, "flagged": []},
    }
    out = render(status)
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("partitions:"))
    rows = [line for line in lines if line.startswith(("  annual", "  profile"))]
    assert len(rows) == 3
    # Every row's site-total column ends where the header's "site total" ends.
    end = header.index("site total") + len("site total")
    for row in rows:
        assert row[end - 1] != " " and row[end] == " ", (header, row)
    profile_update = next(row for row in rows if row.startswith("  profile_update any"))
    assert profile_update.split()[2:] == ["?", "3", "3", "0", "?", "2026-12-04", "15:09:54Z"]
    assert "? = only recently sent reports were checked" in out
    assert ".871" not in out and "2026-12-04 15:09:54Z  fund-profiles" in out
