"""The ``fundcrawl`` command: run the daemon, look at what is stored, and operate it.

Each command group lives in its own module; this one builds the group and maps errors to exit codes:
0 success, 1 some reports failed (or a check failed), 2 configuration or schema error.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from crawler.exceptions import ConfigError, SchemaError
from crawler.settings import Settings, get_settings

EXIT_FAILED = 1
EXIT_CONFIG = 2


class FundcrawlGroup(click.Group):
    """Turns configuration and schema errors into one clear line and exit code 2, wherever they are raised."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, SchemaError) as error:
            click.echo(f"fundcrawl: {error}", err=True)
            sys.exit(EXIT_CONFIG)


@click.group(cls=FundcrawlGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="fundcrawl")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Keep a database of Chinese public-fund reports current from the CSRC EID disclosure platform.

    Settings come from FUNDCRAWL_* environment variables (and a .env file): FUNDCRAWL_SOURCE_URL,
    FUNDCRAWL_DATA_DIR, FUNDCRAWL_DATABASE_URL, FUNDCRAWL_BROKER_URL, FUNDCRAWL_SCHEDULES,
    FUNDCRAWL_RATE_LIMIT, FUNDCRAWL_SENTRY_DSN, FUNDCRAWL_CONCURRENCY, ... (see the README).
    With none set, everything runs embedded under ./data (SQLite database and broker).
    """
    if ctx.invoked_subcommand in ("worker", "beat", "run"):
        return  # Celery configures logging and Sentry in those processes (crawler/celery_app.py)
    from crawler.logging_setup import configure_logging
    from crawler.observability import flush_sentry, init_sentry

    s = settings()
    configure_logging(s)
    if init_sentry(s, process="cli"):
        ctx.call_on_close(flush_sentry)


def settings() -> Settings:
    """The process settings; a bad variable becomes a ConfigError (exit 2)."""
    return get_settings()


def _register() -> None:
    from crawler.cli import backfill, check, daemon, data, db, status  # noqa: F401  (modules add their commands to `main`)


_register()
