"""``fundcrawl status``: what is stored, what is pending, what failed and why."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from crawler.cli import main, settings
from crawler.models import REPORT_KINDS_BY_CODE


def collect_status(database_url: str, *, failures: int = 20, runs: int = 10) -> dict[str, Any]:
    """Everything ``status`` shows, as JSON-ready data."""
    from crawler.storage import Store

    store = Store.open(database_url)
    return {
        "reports": store.counts(),
        "corrections": store.corrections(),
        "oldest_pending": store.oldest_pending(),
        "partitions": store.partitions.status(),
        "last_runs": store.runs.recent(runs),
        "recent_failures": store.recent_failures(failures),
        "parse_flags": store.health.parse_flag_summary(),
        "reparse_runs": store.reparse_runs(),
    }


def _json_default(value: object) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _when(value: object) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value) if value else "-"


def _parse(value: Any) -> Any:
    """ISO timestamps from the JSON-ready status back to datetimes, for display to the second."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _kind(code: str) -> str:
    return REPORT_KINDS_BY_CODE.get(code, code)


def render(status: dict[str, Any]) -> str:
    """The human form of ``status``."""
    r = status["reports"]
    lines = [f"reports: {r['total']} total, {r['stored']} stored, {r['pending']} pending, {r['failed']} failed"]
    c = status.get("corrections") or {"new_id": 0, "same_id": 0}
    lines.append(f"corrections seen: {c['new_id'] + c['same_id']} ({c['new_id']} as a new report id, "
                 f"{c['same_id']} as a changed page behind the same id); superseded versions are kept, "
                 f"exports show the current one")
    oldest = status["oldest_pending"]
    if oldest:
        lines.append(f"oldest pending: {oldest['upload_info_id']} ({oldest['state']}, {oldest['attempts']} "
                     f"attempt(s), discovered {_when(oldest['discovered_at'])})")
    if status["partitions"]:
        names = [f"{_kind(p['report_type_code'])} {p['report_year'] or 'any'} {p['fund_type']}".strip()
                 for p in status["partitions"]]
        width = max(len("partitions:") - 2, *map(len, names)) + 1
        lines += ["", f"{'partitions:':<{width + 2}}site total  discovered  stored  failed  complete  last checked"]
        unknown = False
        for name, p in zip(names, status["partitions"], strict=True):
            # A partition only checked through a recent window (sent_within_days) has no known site total.
            unknown = unknown or p["site_total"] is None
            total = "?" if p["site_total"] is None else p["site_total"]
            complete = "?" if p["site_total"] is None else "yes" if p["complete"] else "NO"
            lines.append(f"  {name:<{width}}{total:>10}  {p['discovered']:>10}  {p['stored']:>6}  {p['failed']:>6}  "
                         f"{complete:>8}  {_when(_parse(p['last_checked']))}")
        if unknown:
            lines.append("  ? = only recently sent reports were checked (the schedule's sent_within_days window); "
                         "the whole partition is counted by `fundcrawl backfill` or a `reconcile` entry")
    if status["last_runs"]:
        lines += ["", "last discovery runs:"]
        for run in status["last_runs"]:
            lines.append(f"  {_when(run['started_at'])}  {run['schedule']:<28} {run['kind']:<9} {run['status']:<10} "
                         f"listed {run['listed'] or 0}, new {run['new'] or 0}, requests {run['requests'] or 0}"
                         + (f"  ({run['error']})" if run["error"] else ""))
    if status.get("reparse_runs"):
        lines += ["", "re-parse runs:"]
        lines += [_reparse_run(run) for run in status["reparse_runs"]]
    flags = status["parse_flags"]
    if flags["flagged_reports"] or flags["unknown_sections"]:
        lines += ["", f"parse flags: {flags['flagged_reports']} stored report(s) failed a cross-check"]
        for row in flags["flagged"]:
            lines.append(f"  {row['upload_info_id']}: {', '.join(row['failed_checks'])}")
        for heading, count in flags["unknown_sections"].items():
            lines.append(f"  unknown section on {count} report(s): {heading}")
    if status["recent_failures"]:
        lines += ["", "recent failures:"]
        for f in status["recent_failures"]:
            lines.append(f"  {f['upload_info_id']}  {f['fund_code']} {_kind(f['report_type_code'])} "
                         f"{f['report_year']}: {f['failure_reason']} after {f['attempts']} attempt(s): "
                         f"{(f['last_error'] or '')[:160]}")
    return "\n".join(lines)


def _reparse_run(run: dict[str, Any]) -> str:
    scope = " --all" if run["all_reports"] else ""
    done = run["total"] - run["pending"]
    line = (f"  run {run['id']}  parser {run['parser_version']}{scope}  started {_when(_parse(run['created_at']))}  "
            f"{done}/{run['total']} done ({run['updated']} updated, {run['unchanged']} unchanged, "
            f"{run['failed']} failed)")
    if run["pending"]:
        return line + f"; `fundcrawl reparse{scope} --wait` shows its progress, `--here` finishes it"
    return line + (f", finished {_when(_parse(run['finished_at']))}" if run["finished_at"] else "")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.option("--failures", default=20, show_default=True, help="How many recent failures to list.")
def status(as_json: bool, failures: int) -> None:
    """Show reports by state, each partition's site total against what is stored, the last discovery runs,
    the last re-parse runs, the oldest pending report and the most recent failures with their reasons."""
    data = collect_status(settings().database, failures=failures)
    if as_json:
        click.echo(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))
    else:
        click.echo(render(data))
