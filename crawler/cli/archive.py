"""``fundcrawl archive``: move a file archive into the database, look at what the archive holds, print a page."""

from __future__ import annotations

import sys

import click

from crawler.cli import EXIT_FAILED, main, on_interrupt, settings
from crawler.cli.progress import Progress


@main.group()
def archive() -> None:
    """The raw-page archive (in the database, shared by the whole fleet)."""


@archive.command()
@click.option("--keep-files", is_flag=True, help="Leave the files in place once their copy is verified.")
def migrate(keep_files: bool) -> None:
    """Move the page files under FUNDCRAWL_DATA_DIR/archive into the database archive.

    Each file's bytes are checked against the sha256 in its name, stored compressed, read back from the
    database and checked again; only then is the file deleted (never with --keep-files). Interrupted, the
    same command resumes: pages already in the database are only verified. Exit 1 if any file was corrupt
    (it is left where it is and named).
    """
    from crawler.archive import ArchiveError, FileArchive, PageArchive, sha256_of
    from crawler.storage import Store

    s = settings()
    store = Store.open(s.database)
    files = FileArchive(s.archive_dir)
    pages = PageArchive(store)
    todo = list(files.iter_files())
    if not todo:
        click.echo(f"no page files under {files.root}: nothing to migrate")
        return
    kinds = store.page_kinds(sha for sha, _path in todo)
    moved = verified = 0
    corrupt: list[str] = []
    on_interrupt("every file is still in place until its database copy was verified; `fundcrawl archive migrate` "
                 "resumes (pages already in the database are only verified)")
    with Progress("migrating pages", len(todo)) as progress:
        for done, (sha256, path) in enumerate(todo, 1):
            body = path.read_bytes()
            if sha256_of(body) != sha256:
                corrupt.append(f"{path}: its bytes do not have the sha256 in its name; left in place")
            else:
                if not store.page_exists(sha256):
                    pages.save(body, kinds.get(sha256, ""))
                    moved += 1
                try:
                    same = pages.read(sha256) == body
                except ArchiveError as error:
                    same, reason = False, str(error)
                else:
                    reason = "the database copy differs from the file"
                if not same:
                    corrupt.append(f"{path}: {reason}; left in place")
                else:
                    verified += 1
                    if not keep_files:
                        files.remove(sha256)
            progress.update(done)
    if not keep_files:
        files.remove_empty_directories()
    for line in corrupt:
        click.echo(line, err=True)
    kept = "kept" if keep_files else "deleted"
    click.echo(f"migrated {moved} page(s) into the database; {verified} verified and their files {kept}; "
               f"{len(corrupt)} not migrated")
    if corrupt:
        sys.exit(EXIT_FAILED)


@archive.command()
def stats() -> None:
    """Pages archived, their raw size and what they take compressed."""
    from crawler.storage import Store

    totals = Store.open(settings().database).archive_totals()
    stored = totals["page_bytes"] + totals["reference_bytes"]
    ratio = totals["raw_bytes"] / stored if stored else 0.0
    click.echo(f"pages: {totals['pages']}, raw {totals['raw_bytes']} bytes, stored {stored} bytes "
               f"({totals['references']} reference page(s) {totals['reference_bytes']} bytes), {ratio:.1f}x")


@archive.command()
@click.argument("page")
def cat(page: str) -> None:
    """Write one archived page, exactly as the site served it, to stdout: PAGE is a sha256 or a report id."""
    from crawler.archive import ArchiveError
    from crawler.processing import runtime
    from crawler.storage import Store

    s = settings()
    Store.open(s.database)
    rt = runtime(s)
    report = int(page) if page.isdigit() else None
    sha256 = page
    if report is not None:
        row = rt.store.state(report)
        if row is None or not row["page_sha256"]:
            click.echo(f"fundcrawl: report {report} has no archived page", err=True)
            sys.exit(EXIT_FAILED)
        sha256 = str(row["page_sha256"])
    try:
        body = rt.archive.read(sha256, report=report)
    except ArchiveError as error:
        click.echo(f"fundcrawl: {error}", err=True)
        sys.exit(EXIT_FAILED)
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()
