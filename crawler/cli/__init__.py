"""The ``fundcrawl`` command: run the daemon, look at what is stored, and operate it.

Each command group lives in its own module; this one builds the group and maps errors to exit codes (the README
table lists them): 0 success, 1 some reports failed for good (or a check failed), 2 configuration or
environment error, 3 the site, a partition or a service (broker, worker) could not be reached, 130 interrupted.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any, NoReturn

import click

from crawler.allocator import turn_off_fastbins
from crawler.exceptions import ConfigError, SchemaError, StorageUnavailableError
from crawler.settings import Settings, get_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


#: Where a command leaves what an interrupt should tell its user (``Context.meta`` is shared by nested contexts).
_INTERRUPT_HINT = "fundcrawl.interrupt_hint"


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """One line on stderr and the exit code: how every command ends on a problem the user must fix."""
    click.echo(f"fundcrawl: {message}", err=True)
    sys.exit(code)


def on_interrupt(hint: str) -> None:
    """What a Ctrl-C from here on should tell the user besides "interrupted": what is kept, how to go on."""
    click.get_current_context().meta[_INTERRUPT_HINT] = hint


def _debug_wanted(ctx: click.Context) -> bool:
    if ctx.params.get("debug"):
        return True
    try:
        return get_settings().log_level == "DEBUG"
    except ConfigError:
        return False


def _environment_error(error: OSError) -> str:
    """A file-system error at start-up, with the path and the setting that chose it."""
    where = f" {error.filename}" if error.filename else ""
    return (f"cannot use{where}: {error.strerror or error}; make it writable by this user or point "
            "FUNDCRAWL_DATA_DIR (or FUNDCRAWL_DATABASE_URL) elsewhere")


class FundcrawlGroup(click.Group):
    """Turns configuration, schema and environment errors into one clear line and exit code 2, wherever they
    are raised (a full traceback only with ``--debug`` or ``FUNDCRAWL_LOG_LEVEL=DEBUG``), and a Ctrl-C into exit
    130 with what the command said is kept (:func:`on_interrupt`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, SchemaError) as error:
            fail(str(error))
        except KeyboardInterrupt:
            # Click would print "Aborted!" and exit 1, which scripts read as "reports failed".
            hint = ctx.meta.get(_INTERRUPT_HINT)
            fail(f"interrupted; {hint}" if hint else "interrupted", EXIT_INTERRUPTED)
        except StorageUnavailableError as error:
            if _debug_wanted(ctx):
                raise
            fail(f"{error}; check FUNDCRAWL_DATABASE_URL (host, port, credentials) and that the database is up")
        except OSError as error:
            if _debug_wanted(ctx) or not error.filename:
                raise
            fail(_environment_error(error))
        except click.exceptions.ClickException:
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            if _debug_wanted(ctx):
                raise
            from crawler.storage import database_error

            refused = database_error(error)
            if refused is not None:
                # Not a passing outage (those are StorageUnavailableError): a path or URL that cannot work.
                fail(f"the database cannot be used ({refused}); check "
                     "FUNDCRAWL_DATABASE_URL, and that FUNDCRAWL_DATA_DIR exists and is writable")
            logging.getLogger("crawler").debug("unexpected error", exc_info=True)
            fail(f"{type(error).__name__}: {error} (run again with --debug for the traceback)", EXIT_FAILED)


@click.group(cls=FundcrawlGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="fundcrawl")
@click.option("--debug", is_flag=True, help="Print full tracebacks of unexpected errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Keep a database of Chinese public-fund reports current from the CSRC EID disclosure platform.

    Settings come from FUNDCRAWL_* environment variables (and a .env file): FUNDCRAWL_SOURCE_URL,
    FUNDCRAWL_DATA_DIR, FUNDCRAWL_DATABASE_URL, FUNDCRAWL_BROKER_URL, FUNDCRAWL_SCHEDULES,
    FUNDCRAWL_RATE_LIMIT, FUNDCRAWL_SENTRY_DSN, FUNDCRAWL_CONCURRENCY, ... (see the README).
    With none set, everything runs embedded under ./data (SQLite database and broker).

    Exit codes: 0 success; 1 some reports failed for good (or a check failed); 2 configuration or environment
    error; 3 the site, a partition or a service could not be reached (run again later); 130 interrupted.
    """
    turn_off_fastbins()  # before any page is parsed here or in a child forked later (crawler/allocator.py)
    if ctx.invoked_subcommand in ("worker", "beat", "run", "consumer"):
        return  # Celery configures logging and Sentry in those processes (crawler/celery_app.py)
    from crawler.telemetry.alerts import flush_sentry, init_sentry
    from crawler.telemetry.logs import configure_logging

    s = settings()
    configure_logging(s)
    if init_sentry(s, process="cli"):
        ctx.call_on_close(flush_sentry)


def skip_final_collection() -> None:
    """Before a command that loaded the daemon's code ends: close its database connections, then freeze the heap,
    so the interpreter's last garbage collections skip the ~150,000 objects of Celery, SQLAlchemy, Scrapy and lxml
    (0.3 s at every exit of the worker and of ``run --once``). The broker's connections close at exit as before;
    nothing else that needs closing is left to the collector."""
    from crawler.storage import dispose_engines

    dispose_engines()
    gc.freeze()


def settings() -> Settings:
    """The process settings; a bad variable becomes a ConfigError (exit 2)."""
    return get_settings()


def _register() -> None:
    from crawler.cli import archive, backfill, check, daemon, data, db, status  # noqa: F401  (modules add their commands to `main`)


_register()
