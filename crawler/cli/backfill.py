"""``fundcrawl backfill``: list whole historical partitions, resumably, and queue what is new."""

from __future__ import annotations

import datetime as dt
import re
import sys

import click
from pydantic import TypeAdapter, ValidationError

from crawler.cli import EXIT_FAILED, EXIT_UNREACHABLE, main, on_interrupt, settings
from crawler.cli.progress import Progress
from crawler.schedules import FundTypeCode, ReportTypeCode


def _codes(adapter: TypeAdapter[str], value: str | None, what: str) -> list[str]:
    try:
        return [adapter.validate_python(part.strip()) for part in (value or "").split(",") if part.strip()]
    except ValidationError as error:
        raise click.BadParameter(error.errors()[0]["msg"].removeprefix("Value error, "), param_hint=what) from None


def _years(value: str) -> list[str]:
    years: list[str] = []
    for part in value.split(","):
        match = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", part)
        if not match or (match.group(2) and match.group(2) < match.group(1)):
            raise click.BadParameter(f"{part.strip()!r}: use years like 2024, 2019-2024 or 2019,2021",
                                     param_hint="--years")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        years += [str(year) for year in range(first, last + 1)]
    return list(dict.fromkeys(years))


@main.command()
@click.option("--report-types", required=True, metavar="LIST",
              help="Comma-separated names (annual, interim, q1..q4, profile) or EID codes.")
@click.option("--years", required=True, metavar="LIST", help="Years and ranges: 2024, 2019-2024, 2019,2021.")
@click.option("--fund-types", metavar="LIST", help="Optional: split by fund type (equity, bond, ... or codes).")
@click.option("--wait", is_flag=True, help="Also process the reports found here with a local worker and wait.")
def backfill(report_types: str, years: str, fund_types: str | None, wait: bool) -> None:
    """List every report of whole historical partitions (report type x year [x fund type]) and queue the new ones.

    Progress is checkpointed per partition in the database: run the same command again after a crash or a
    Ctrl-C and it resumes where it was; reports already stored are never fetched again. Safe to run while the
    scheduled discovery runs. With --wait, ends with a summary of what was stored and what failed. Exit 3 if some
    partition could not be listed completely (run it again later), 1 if a report failed for good (--wait).
    """
    from crawler.discovery.backfill import BackfillProgress, plan_backfill, run_backfill
    from crawler.discovery.runs import enqueue_new
    from crawler.processing import runtime
    from crawler.storage import Store
    from crawler.tasks import publish_reports

    s = settings()
    started = dt.datetime.now(dt.UTC)
    Store.open(s.database)
    types = _codes(TypeAdapter(ReportTypeCode), report_types, "--report-types")
    funds = _codes(TypeAdapter(FundTypeCode), fund_types, "--fund-types")
    year_list = _years(years)
    rt = runtime(s)
    spec = {"report_types": types, "years": year_list, "fund_types": funds}
    job_id = rt.store.jobs.unfinished(spec)
    if job_id is None:
        job_id = plan_backfill(rt.store, types, year_list, funds)
        click.echo(f"backfill job {job_id}: {len(types) * len(year_list) * max(len(funds), 1)} partition(s)", err=True)
    else:
        click.echo(f"resuming backfill job {job_id}", err=True)
    on_interrupt(f"backfill job {job_id} keeps its checkpoints and the reports it queued: the same command resumes "
                 "the listing, and `fundcrawl run --once` (or the running daemon) processes what is queued")
    with Progress("listing", 0, unit="partition") as progress:
        def show(p: BackfillProgress) -> None:
            progress.update(p.partitions_done, p.partitions_total,
                            f"{p.found} listed, {p.new} new{', ' + p.current if p.current else ''}")

        def publish(ids: list[int]) -> None:
            enqueue_new(rt, ids, publish_reports)

        result = run_backfill(rt.client, rt.store, job_id, show, on_new=publish)
    click.echo(f"backfill job {job_id}: {result.partitions_done}/{result.partitions_total} partition(s) done, "
               f"{result.found} listed, {len(result.new_ids)} new report(s) queued, {result.requests} requests")
    failed = False
    if wait:
        from crawler.cli.once import process_pending, report_summary

        if result.new_ids:
            process_pending(rt, s, started)
        failed = report_summary(rt, started)
    if not result.complete:
        for piece in result.incomplete:
            click.echo(f"  incomplete: {piece.query}: {piece.error}", err=True)
        click.echo(f"{len(result.incomplete)} partition(s) could not be listed completely; run the same command "
                   "again later to resume", err=True)
        sys.exit(EXIT_UNREACHABLE)
    if failed:
        sys.exit(EXIT_FAILED)
