"""Commands on report data: ``parse`` local pages, ``export`` what is stored, ``replay`` failures, ``reparse``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from crawler.cli import EXIT_FAILED, main, on_interrupt, settings
from crawler.cli.progress import Progress
from crawler.exceptions import CrawlerError
from crawler.export import ExportFilter, dumps_document

log = logging.getLogger(__name__)

#: Seconds ``reparse --wait`` sees no report re-parsed before it says the work may have no worker to go to.
STALL_SECONDS = 15.0
#: A resumed run's pending reports are queued again only when none of its reports was re-parsed for this many
#: seconds: a run the fleet is working through keeps the messages it has (``--wait`` only watches it); one whose
#: messages were lost, or never taken, gets new ones.
REQUEUE_AFTER = 300.0


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "ids", multiple=True, type=int,
              help="Parse this stored report's archived page, read from the database archive (repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write DIR/<file stem or report id>.json instead of printing one JSON document per line.")
def parse(files: tuple[Path, ...], ids: tuple[int, ...], out_dir: Path | None) -> None:
    """Parse report pages with the daemon's own parser (no network): local FILES, or archived pages (--id).

    Prints one fundcrawl.report/1 JSON document per page, or writes them to --out. Nothing is stored. Exit 1 if
    any page could not be read or parsed (the others are still written).
    """
    from crawler.exceptions import ParseError
    from crawler.parsing import parse_report

    if not files and not ids:
        raise click.UsageError("give page files, or --id N for archived pages")
    pages: list[tuple[str, str, Callable[[], bytes]]] = [(str(path), path.stem, path.read_bytes) for path in files]
    if ids:
        pages += _archived_pages(ids)
    failed = 0
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for label, name, read in pages:
        try:
            document = parse_report(read()).document
        except (ParseError, CrawlerError) as error:
            click.echo(f"{label}: {error}", err=True)
            failed += 1
            continue
        if out_dir is None:
            click.echo(dumps_document(document))
        else:
            (out_dir / f"{name}.json").write_text(
                json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    if out_dir is not None:
        click.echo(f"wrote {len(pages) - failed} document(s) to {out_dir}", err=True)
    if failed:
        sys.exit(EXIT_FAILED)


def _archived_pages(ids: tuple[int, ...]) -> list[tuple[str, str, Callable[[], bytes]]]:
    """(label, output name, reader) of each report's archived page; a report without one fails when read."""
    from functools import partial

    from crawler.archive import PageMissingError
    from crawler.processing import runtime
    from crawler.storage import Store

    s = settings()
    Store.open(s.database)
    rt = runtime(s)

    def read(upload_info_id: int) -> bytes:
        row = rt.store.state(upload_info_id)
        if row is None or not row["page_sha256"]:
            raise PageMissingError(f"report {upload_info_id} has no archived page")
        return rt.archive.read(str(row["page_sha256"]), report=upload_info_id)

    return [(f"report {upload_info_id}", str(upload_info_id), partial(read, upload_info_id)) for upload_info_id in ids]


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-12-31") from None


def _split(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _report_types(names: list[str] | None) -> list[str] | None:
    """Report-type names or EID codes; an unknown name is refused rather than silently matching nothing."""
    from crawler.schedules import report_type_code

    if names is None:
        return None
    try:
        return [report_type_code(name) for name in names]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--report-type") from None


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="jsonl: the output file; csv and parquet: a folder with one file per table.")
@click.option("--fund-code", callback=_split, help="Only these fund codes (comma-separated).")
@click.option("--report-type", callback=_split, help="Only these report types: names (annual, q1, ...) or codes.")
@click.option("--period-from", callback=_date, help="Only reports whose period ends on or after this date.")
@click.option("--period-to", callback=_date, help="Only reports whose period ends on or before this date.")
@click.option("--partitioned", is_flag=True,
              help="parquet only: a Hive-partitioned dataset (DIR/<table>/report_kind=K/period_end=D/); "
                   "a rerun rewrites only the partitions whose reports changed.")
@click.option("--versions", type=click.Choice(["current", "all"]), default="current", show_default=True,
              help="current: one version per report slot (corrections applied); all: every version stored.")
def export(fmt: str, out: Path, fund_code: list[str] | None, report_type: list[str] | None,
           period_from: dt.date | None, period_to: dt.date | None, partitioned: bool, versions: str) -> None:
    """Export stored reports: JSON lines (one fundcrawl.report/1 document per line, plus upload_info_id,
    page_sha256, is_current and superseded_by), or CSV / Parquet with one file per table (reports,
    share_classes, nav_values, share_changes, asset_allocation, industry_allocation, holdings); CSV adds
    datapackage.json, the column types.

    By default only the current version of each report (fund, type, period) is written; --versions all
    writes every version, every page ever stored (csv/parquet rows say their page_sha256; reports rows also
    is_current and what superseded them).
    Every export reads one snapshot of the database, so it is consistent while the daemon stores."""
    from crawler import export as exporting
    from crawler.storage import Store

    if partitioned and fmt != "parquet":
        raise click.UsageError("--partitioned needs --format parquet")
    if fmt == "jsonl" and out.is_dir():
        raise click.BadParameter(f"{out} is a folder; jsonl is one file: give a file name such as "
                                 f"{out / 'reports.jsonl'}", param_hint="--out")
    if fmt != "jsonl" and out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} is a file; {fmt} writes one file per table into a folder",
                                 param_hint="--out")
    report_type = _report_types(report_type)
    store = Store.open(settings().database)
    on_interrupt("a file this export had not finished is left as it was (each is replaced only once complete); "
                 "run the same command again")
    where = ExportFilter(fund_code, report_type, period_from, period_to, all_versions=versions == "all")
    if partitioned:
        parts = exporting.export_parquet_partitioned(store, out, where)
        click.echo(f"{parts['partitions']} partition(s): {parts['written']} written, "
                   f"{parts['partitions'] - parts['written']} unchanged, {parts['removed']} removed, in {out}", err=True)
        return
    if fmt == "jsonl":
        with Progress("exporting", store.counts()["stored"]) as progress:
            done = 0

            def tick() -> None:
                nonlocal done
                done += 1
                progress.update(done)

            count = exporting.export_jsonl(store, out, where, tick)
        click.echo(f"exported {count} report(s) to {out}", err=True)
        return
    writer = exporting.export_csv if fmt == "csv" else exporting.export_parquet
    counts = writer(store, out, where)
    click.echo(", ".join(f"{name}: {n}" for name, n in counts.items()) + f" row(s) written to {out}", err=True)


@main.command()
@click.option("--reason", help="Only reports that failed with this reason (e.g. http_404, parse_error).")
@click.option("--id", "ids", multiple=True, type=int, help="Only this report id (repeatable).")
@click.option("--here", is_flag=True, help="Process them in this process now instead of queueing them for the fleet.")
def replay(reason: str | None, ids: tuple[int, ...], here: bool) -> None:
    """Re-run failed reports (all of them by default) with a fresh attempt budget.

    By default they are queued on the configured broker for the running daemon; with --here they are
    fetched, parsed and stored by this command, with progress, and the exit code is 1 if any fails again.
    """
    from crawler import processing
    from crawler.discovery.runs import enqueue_new
    from crawler.storage import Store

    s = settings()
    Store.open(s.database)
    rt = processing.runtime(s)
    wanted = set(rt.store.failed_ids(reason))
    if ids:
        wanted &= set(ids)
    count = rt.store.reset_failed(wanted)
    on_interrupt("the reports not replayed yet are pending again: `fundcrawl run --once` (or the running "
                 "daemon) processes them")
    if not here:
        from crawler.tasks import publish_reports

        enqueue_new(rt, sorted(wanted), publish_reports)
        click.echo(f"queued {count} failed report(s) for another attempt")
        return
    sys.exit(_process_here(rt, sorted(wanted)))


def _process_here(rt: object, ids: list[int]) -> int:
    from crawler import processing
    from crawler.exceptions import TransientError

    assert isinstance(rt, processing.Runtime)
    failed = 0
    with Progress("replaying", len(ids)) as progress:
        for done, upload_info_id in enumerate(ids, 1):
            try:
                state = processing.process_report(rt, upload_info_id)
            except TransientError as error:
                processing.postpone_report(rt, upload_info_id, error, 0)
                state = "failed"
            failed += state == "failed"
            progress.update(done)
    click.echo(f"replayed {len(ids)} report(s); {failed} did not end stored")
    return EXIT_FAILED if failed else 0


@main.command()
@click.option("--all", "all_", is_flag=True,
              help="Re-parse every stored report, not only those parsed by an older parser version.")
@click.option("--wait", is_flag=True, help="Queue the work for the fleet, then show its progress until it is done.")
@click.option("--here", is_flag=True, help="Re-parse in this process instead of queueing the work for the fleet.")
def reparse(all_: bool, wait: bool, here: bool) -> None:
    """Re-parse archived pages with this parser and store what changed (no network).

    Only reports parsed by an older parser version, unless --all (which also stores what a parser fixed without
    a version bump produces). The work goes to the fleet's `reparse` queue, which every `fundcrawl worker`
    consumes beside its other queues; --wait shows progress until it is done, --here does it in this process.
    Interrupted, the same command resumes the unfinished run: it queues the reports not done yet again, unless
    the fleet re-parsed one of them in the last 5 minutes (then it only watches). Each report's rows are replaced
    in one transaction; the archived page never changes. Exit 1 if any report could not be re-parsed.
    """
    from crawler import processing
    from crawler.celery_app import tune_memory_management
    from crawler.parsing import PARSER_VERSION
    from crawler.storage import Store

    s = settings()
    Store.open(s.database)
    rt = processing.runtime(s)
    run_id, resumed = rt.store.start_reparse(PARSER_VERSION, all_)
    pending = rt.store.reparse_pending(run_id)
    total = rt.store.reparse_progress(run_id)["total"]
    click.echo(f"{'resuming' if resumed else 'started'} re-parse run {run_id} with parser {PARSER_VERSION}: "
               f"{len(pending)} of {total} report(s) to do", err=True)
    again = f"fundcrawl reparse{' --all' if all_ else ''}"
    if here:
        on_interrupt(f"re-parse run {run_id} keeps what it stored; `{again} --here` resumes it")
        tune_memory_management()
        with Progress("re-parsing", total) as progress:
            done = total - len(pending)
            for start in range(0, len(pending), processing.REPARSE_BATCH):
                batch = pending[start:start + processing.REPARSE_BATCH]
                processing.reparse_items(rt, run_id, batch)
                done += len(batch)
                progress.update(done)
    else:
        from crawler.tasks import publish_reparse

        last = rt.store.reparse_last_done(run_id) if resumed else None
        ago = (dt.datetime.now(dt.UTC) - last).total_seconds() if last is not None else REQUEUE_AFTER
        if ago < REQUEUE_AFTER:
            click.echo(f"re-parse run {run_id} is in the fleet's hands (a report was re-parsed {ago:.0f} s ago): "
                       "nothing queued again", err=True)
        else:
            publish_reparse(run_id, pending)
            click.echo(f"queued {len(pending)} report(s) on the reparse queue", err=True)
        if not wait:
            click.echo(f"`{again} --wait` shows the progress of re-parse run {run_id}")
            return
        on_interrupt(f"re-parse run {run_id} stays queued for the fleet's workers; `{again} --wait` shows its "
                     "progress again")
        _wait_for_run(rt.store, run_id, total, again)
    sys.exit(_reparse_summary(rt.store, run_id, PARSER_VERSION))


def _wait_for_run(store: object, run_id: int, total: int, again: str, poll: float = 1.0) -> None:
    """Show the run's progress until no item is pending; say so once if nothing moves for STALL_SECONDS."""
    from crawler.storage import Store

    assert isinstance(store, Store)
    last_done, moved_at, warned = -1, time.monotonic(), False
    with Progress("re-parsing", total) as progress:
        while True:
            counts = store.reparse_progress(run_id)
            done = counts["total"] - counts["pending"]
            progress.update(done, note=f"{counts['failed']} failed")
            if not counts["pending"]:
                return
            if done != last_done:
                last_done, moved_at = done, time.monotonic()
            elif not warned and time.monotonic() - moved_at >= STALL_SECONDS:
                warned = True
                log.warning("no report of re-parse run %s done in %.0f s: its work waits on the broker's `reparse` "
                            "queue for a worker (`fundcrawl run` on the embedded default, `fundcrawl worker` in a "
                            "fleet). Still waiting; Ctrl-C leaves the work queued, and `%s --here` does it in "
                            "this process", run_id, STALL_SECONDS, again)
            time.sleep(poll)


def _reparse_summary(store: object, run_id: int, parser_version: str) -> int:
    from crawler.storage import Store

    assert isinstance(store, Store)
    counts = store.reparse_progress(run_id)
    if not counts["pending"]:
        store.finish_reparse(run_id)
    for upload_info_id, error in store.reparse_failures(run_id):
        click.echo(f"report {upload_info_id}: {error}", err=True)
    click.echo(f"re-parsed {counts['total'] - counts['pending']} report(s) with parser {parser_version}: "
               f"{counts['updated']} updated, {counts['unchanged']} unchanged, "
               f"{counts['failed']} could not be re-parsed")
    return EXIT_FAILED if counts["failed"] else 0
