"""``fundcrawl check``: configuration, database schema, broker, Sentry and the site, one pass/fail line each."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

import click

from crawler.cli import EXIT_FAILED, main, settings
from crawler.exceptions import CrawlerError
from crawler.settings import Settings

Check = Callable[[Settings], str]


def check_configuration(s: Settings) -> str:
    from crawler.schedules import load_schedules

    schedules = load_schedules(s.schedules)
    mode = "embedded (SQLite broker)" if s.embedded else "Redis broker"
    return f"{len(schedules.entries)} schedule entries from {s.schedules}; {mode}; {s.rate_limit} req/s to {s.source_url}"


def check_beat(s: Settings) -> str:
    """Beat's own machinery, for real: load the schedule, compute each entry's next run, persist it (to a
    throw-away state file in the data dir)."""
    from crawler.cli.daemon import check_beat as preview

    upcoming = preview(s)
    return f"{len(upcoming)} beat entries load and persist; next runs:\n" + "\n".join(
        f"{when:%Y-%m-%d %H:%M:%S %Z}  {name}" for name, when in upcoming)


def check_database(s: Settings) -> str:
    from crawler.storage import Store, head_revision

    return f"{Store.open(s.database).location} at schema {head_revision()}"


def check_broker(s: Settings) -> str:
    from crawler.celery_app import probe_broker

    return f"reachable: {probe_broker(s)}"


def check_sentry(s: Settings) -> str:
    if not s.sentry:
        return "off (FUNDCRAWL_SENTRY_DSN is empty)"
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        dsn = Dsn(s.sentry)
    except BadDsn as error:
        raise CrawlerError(f"FUNDCRAWL_SENTRY_DSN is not a valid DSN: {error}") from None
    parts = urlsplit(f"{dsn.scheme}://{dsn.netloc}")
    port = parts.port or (443 if dsn.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=5).close()
    except OSError as error:
        raise CrawlerError(f"ingest {parts.hostname}:{port} unreachable: {error}") from None
    return f"ingest {parts.hostname}:{port} reachable (project {dsn.project_id})"


def check_site(s: Settings) -> str:
    import datetime as dt

    from crawler.models import REPORT_TYPES
    from crawler.sources.eid import EidClient

    year = str(dt.date.today().year - 1)
    with EidClient.from_settings(s) as client:
        page = client.search(REPORT_TYPES["annual"], year, 0)
    return f"search answered: {page.iTotalRecords} annual reports for {year}"


CHECKS: dict[str, Check] = {
    "configuration": check_configuration,
    "beat": check_beat,
    "database": check_database,
    "broker": check_broker,
    "sentry": check_sentry,
    "site": check_site,
}


def run_checks(s: Settings) -> list[dict[str, str | bool]]:
    """Every check's outcome; details are masked like log lines, since a URL or a client error may carry a
    password (the source URL's included)."""
    from crawler.telemetry.logs import SecretMasker, secret_values

    masker = SecretMasker(secret_values(s))
    results: list[dict[str, str | bool]] = []
    for name, check in CHECKS.items():
        try:
            results.append({"check": name, "ok": True, "detail": masker.mask(check(s))})
        except (CrawlerError, OSError) as error:
            results.append({"check": name, "ok": False, "detail": masker.mask(f"{type(error).__name__}: {error}")})
        except Exception as error:  # noqa: BLE001 - a check reports whatever its client raised, then goes on
            results.append({"check": name, "ok": False, "detail": masker.mask(f"{type(error).__name__}: {error}")})
    return results


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def check(as_json: bool) -> None:
    """Check the configuration, beat's schedule, the database schema, the broker, Sentry and the site, one line
    each; beat's check lists every entry's next run in the schedule's timezone.

    Exit 0 when all pass, 1 otherwise. The site check spends one search request.
    """
    results = run_checks(settings())
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for result in results:
            first, *more = str(result["detail"]).splitlines()
            click.echo(f"{'PASS' if result['ok'] else 'FAIL'}  {result['check']:<14} {first}")
            for line in more:
                click.echo(f"{'':<20} next run {line}")
    if not all(result["ok"] for result in results):
        sys.exit(EXIT_FAILED)
