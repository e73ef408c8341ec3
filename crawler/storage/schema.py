"""Schema management through Alembic: ``fundcrawl db upgrade`` and the start-up check.

The daemon refuses to run against a schema that is missing or behind; ``upgrade`` is idempotent and
creates everything on an empty database. Concurrent upgrades serialise: PostgreSQL through an advisory lock,
SQLite through ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from crawler.exceptions import SchemaError
from crawler.storage.engine import READ_ONLY, make_engine, run_unit

log = logging.getLogger(__name__)

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
#: Arbitrary constant: the PostgreSQL advisory lock key that serialises concurrent ``db upgrade`` runs.
_UPGRADE_LOCK = 0x66756E64


def alembic_config() -> Config:
    """The packaged Alembic configuration (script location inside the installed package)."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.with_name("migrations")))
    return config


def head_revision() -> str:
    """The revision this code needs."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError("no migrations are packaged with this fundcrawl")
    return head


def upgrade(url: str | URL) -> str:
    """Bring the database at ``url`` to the head revision (a no-op when it is already there); return it."""
    engine = make_engine(url)

    def work() -> str:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
                # Building an index on a large table may take longer than the daemon's statement timeout.
                connection.execute(text("SET LOCAL statement_timeout = 0"))
            _refuse_unknown(_revision_on(connection))
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            return _revision_on(connection) or ""

    revision = run_unit(work)
    log.info("database schema at %s", revision)
    return revision


def _revision_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(url: str | URL) -> str | None:
    """The revision the database at ``url`` is at; None for an empty database."""
    return revision_of(make_engine(url))


def revision_of(engine: Engine, *, attempts: int = 3) -> str | None:
    def work() -> str | None:
        with engine.connect().execution_options(**READ_ONLY) as connection, connection.begin():
            return _revision_on(connection)

    return run_unit(work, attempts=attempts)


def known_revisions() -> set[str]:
    """Every revision this fundcrawl ships."""
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _refuse_unknown(have: str | None) -> None:
    # A newer fundcrawl migrated this database: upgrading cannot help, and running old code on it is unsafe.
    if have is not None and have not in known_revisions():
        raise SchemaError(
            f"database schema is at {have}, which this fundcrawl (needs {head_revision()}) does not know: "
            "the database was migrated by a newer fundcrawl; run that version"
        )


def ensure_current(engine: Engine) -> None:
    """Raise :class:`SchemaError` unless the schema is exactly at the head revision.

    The start-up check of every command: one attempt, so a database that is down or a wrong port is one clear
    error at once rather than retry warnings first (a supervisor restarts a production process anyway)."""
    have = revision_of(engine, attempts=1)
    need = head_revision()
    _refuse_unknown(have)
    if have != need:
        shown = have if have is not None else "nothing (an empty database)"
        raise SchemaError(
            f"database schema is at {shown}, this fundcrawl needs {need}: run `fundcrawl db upgrade`"
        )


@contextmanager
def _schema_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (beside the database file); without one where the folder is unusable,
    so the upgrade itself reports what is wrong with it."""
    try:
        handle = path.open("a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def upgrade_embedded(url: str | URL) -> str | None:
    """On an embedded SQLite database, which belongs to the one daemon that uses it, create or upgrade the schema;
    returns a line saying what was done, or None when nothing was (already current, or not SQLite: a shared
    database keeps its upgrade an explicit ``fundcrawl db upgrade`` step)."""
    engine = make_engine(url)
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    # The embedded worker and beat may start together (two Procfile lines): one creates, the other then finds
    # the schema current. The kernel drops the lock with its process, however it ends.
    with _schema_lock(Path(f"{engine.url.database}.schema-lock")):
        before = current_revision(url)
        if before == head_revision():
            return None
        revision = upgrade(url)
    return (f"database schema {'created' if before is None else 'upgraded'} at revision {revision} "
            f"({engine.url.database})")
