"""The page archive in the database, on SQLite and PostgreSQL: exact bytes back, compressed against a reference
of the same kind, every read verified, references never deletable while a page needs them, and the migration of
a file archive."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError

from crawler.archive import CorruptPageError, FileArchive, PageArchive, PageMissingError, sha256_of
from crawler.storage import Store
from crawler.storage.tables import page_references, pages
from tests.constants import CORPUS_DIR


def _corpus(kind: str, count: int) -> list[bytes]:
    return [path.read_bytes() for path in sorted(CORPUS_DIR.glob(f"*_{kind}.html"))[:count]]


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url)


def test_pages_come_back_byte_exact_and_take_a_fraction_of_their_size(store: Store) -> None:
    archive = PageArchive(store)
    bodies = _corpus("annual", 6) + _corpus("q1", 3)
    for body in bodies:
        page = archive.save(body, "FB010010" if b"\xe5\xb9\xb4\xe5\xba\xa6\xe6\x8a\xa5\xe5\x91\x8a" in body[:4000]
                            else "FB030010")
        assert page.sha256 == sha256_of(body)
    fresh = PageArchive(Store.from_url(store.engine.url))  # another process: nothing cached
    assert [fresh.read(sha256_of(body)) for body in bodies] == bodies
    totals = store.archive_totals()
    assert totals["pages"] == len(bodies) and totals["raw_bytes"] == sum(map(len, bodies))
    # Compressed against a reference of their kind, pages plus references take well under a tenth of the bytes.
    assert (totals["page_bytes"] + totals["reference_bytes"]) * 10 < totals["raw_bytes"]


def test_saving_the_same_page_twice_stores_it_once(store: Store) -> None:
    archive = PageArchive(store)
    body = _corpus("q2", 1)[0]
    assert archive.save(body, "FB030020") == archive.save(body, "FB030020")
    assert store.archive_totals()["pages"] == 1


def test_a_page_of_a_new_template_becomes_a_newer_reference(store: Store) -> None:
    archive = PageArchive(store)
    annual, profile = _corpus("annual", 1)[0], _corpus("profile", 1)[0]
    archive.save(annual, "FB010010")
    archive.save(profile, "FB010010")  # nothing like the reference: it starts a newer one
    assert store.archive_totals()["references"] == 2
    assert archive.read(sha256_of(profile)) == profile and archive.read(sha256_of(annual)) == annual


def test_a_corrupted_page_is_an_error_naming_the_report(store: Store) -> None:
    archive = PageArchive(store)
    body = _corpus("q1", 1)[0]
    sha256 = archive.save(body, "FB030010").sha256
    stored = store.stored_pages([sha256])[sha256]
    damaged = stored.body[:-40] + bytes(40)
    store.write(lambda c: c.execute(update(pages).where(pages.c.sha256 == sha256).values(body=damaged)))
    with pytest.raises(CorruptPageError, match=f"page {sha256[:12]} of report 4242"):
        PageArchive(store).read(sha256, report=4242)
    with pytest.raises(PageMissingError, match="of report 7 is not in the archive"):
        archive.read("0" * 64, report=7)


def test_reading_many_pages_fetches_them_in_one_read_and_gives_each_its_own_outcome(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = PageArchive(store)
    bodies = _corpus("q1", 3)
    names = [archive.save(body, "FB030010").sha256 for body in bodies]
    stored = store.stored_pages([names[1]])[names[1]]
    store.write(lambda c: c.execute(update(pages).where(pages.c.sha256 == names[1])
                                    .values(body=stored.body[:-40] + bytes(40))))
    fetches: list[list[str]] = []
    fetch = store.stored_pages
    monkeypatch.setattr(store, "stored_pages", lambda wanted: fetches.append(list(wanted)) or fetch(wanted))
    asked = [(names[0], 1), (names[1], 2), ("not-a-sha", 3), ("0" * 64, 4), (names[2], 5)]
    reading = PageArchive(store).read_many(asked)
    # Every stored page was fetched in one read when it was called: the database may go before the pages are.
    assert fetches == [sorted({names[0], names[1], names[2], "0" * 64})]
    monkeypatch.setattr(store, "stored_pages", lambda wanted: pytest.fail("a second read of the database"))
    got = list(reading)
    assert [got[0], got[4]] == [bodies[0], bodies[2]]
    assert isinstance(got[1], CorruptPageError) and "of report 2" in str(got[1])
    assert isinstance(got[2], PageMissingError) and "not a page name" in str(got[2])
    assert isinstance(got[3], PageMissingError) and "of report 4 is not in the archive" in str(got[3])


def test_a_reference_cannot_be_deleted_while_a_page_needs_it(store: Store) -> None:
    PageArchive(store).save(_corpus("q2", 1)[0], "FB030020")
    with pytest.raises(IntegrityError):
        store.engine.dispose()
        with store.engine.begin() as connection:
            connection.execute(delete(page_references))


def test_a_page_not_migrated_yet_is_still_read_from_the_file_archive(store: Store, tmp_path: Path) -> None:
    files = FileArchive(tmp_path / "archive")
    body = _corpus("q1", 1)[0]
    sha256 = files.save(body).sha256
    assert PageArchive(store, legacy=files).read(sha256) == body
    files.path_for(sha256).write_bytes(body[:-1] + b"!")
    with pytest.raises(CorruptPageError, match=f"page {sha256[:12]} of report 5 is corrupt"):
        PageArchive(store, legacy=files).read(sha256, report=5)


def test_archive_migrate_moves_files_verified_and_resumes(db_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from crawler.cli import main
    from crawler.settings import get_settings

    data = tmp_path / "data"
    files = FileArchive(data / "archive")
    bodies = _corpus("q1", 3) + _corpus("q2", 2)
    for body in bodies:
        files.save(body)
    rotten = files.save(b"<html>a page whose file rotted</html>").sha256
    files.path_for(rotten).write_bytes(b"<html>a page whose file rotted!</html>")
    monkeypatch.setenv("FUNDCRAWL_DATA_DIR", str(data))
    monkeypatch.setenv("FUNDCRAWL_DATABASE_URL", db_url)
    get_settings.cache_clear()
    store = Store.from_url(db_url)
    # Interrupted after two pages (stored, files not deleted yet): the next run only verifies those two.
    PageArchive(store).save(bodies[0], "FB030010")
    PageArchive(store).save(bodies[1], "FB030010")
    try:
        first = CliRunner().invoke(main, ["archive", "migrate", "--keep-files"])
        assert first.exit_code == 1, first.output
        assert "migrated 3 page(s) into the database; 5 verified and their files kept; 1 not migrated" in first.output
        assert rotten in first.output and len(files.iter_hashes()) == 6
        second = CliRunner().invoke(main, ["archive", "migrate"])
        assert "migrated 0 page(s) into the database; 5 verified and their files deleted" in second.output
    finally:
        get_settings.cache_clear()
    assert files.iter_hashes() == [rotten]  # the corrupt file stays, named; every verified one is gone
    reader = PageArchive(Store.from_url(db_url))
    assert [reader.read(sha256_of(body)) for body in bodies] == bodies


def test_the_page_tables_are_at_head(store: Store) -> None:
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM pages")).scalar() == 0


def test_two_processes_adding_a_kinds_first_reference_agree_on_one(store: Store) -> None:
    first = store.add_reference("FB030010", 1, "a" * 64, 10, b"first")
    second = store.add_reference("FB030010", 1, "b" * 64, 10, b"second")  # lost the race: gets the winner's
    assert second == first and store.archive_totals()["references"] == 1
