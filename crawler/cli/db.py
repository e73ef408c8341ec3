"""``fundcrawl db``: create or upgrade the database schema (Alembic)."""

from __future__ import annotations

import click

from crawler.cli import main, settings


@main.group()
def db() -> None:
    """Manage the database schema (SQLite or PostgreSQL, through Alembic migrations)."""


@db.command()
def upgrade() -> None:
    """Create the schema on an empty database or bring it to this version (safe to run again)."""
    from crawler.storage import upgrade as upgrade_schema

    s = settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    revision = upgrade_schema(s.database)
    click.echo(f"database schema is at revision {revision}")


@db.command()
def current() -> None:
    """Print the schema revision of the database and the one this fundcrawl needs."""
    from crawler.storage import current_revision, head_revision

    s = settings()
    have, need = current_revision(s.database), head_revision()
    click.echo(f"database: {have or 'empty'}; this fundcrawl needs: {need}")
    if have != need:
        click.echo("run `fundcrawl db upgrade` to bring it up to date")
