"""Report versions: corrections under a new id or behind the same id leave exactly one current version per slot."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from crawler.storage import Store, make_engine
from crawler.storage.tables import report_versions, reports
from tests.storage.helpers import document, item, ref, row_counts

SLOT = "000001|FB030010|2025"


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url)


def _current(store: Store) -> dict[str, list[tuple[int, str]]]:
    """Slot -> its current (upload_info_id, sha) as both tables say."""
    def read(connection):  # type: ignore[no-untyped-def]
        v = connection.execute(select(report_versions.c.slot, report_versions.c.upload_info_id,
                                      report_versions.c.page_sha256).where(report_versions.c.is_current)).all()
        r = connection.execute(select(reports.c.slot, reports.c.upload_info_id, reports.c.page_sha256)
                               .where(reports.c.is_current)).all()
        assert sorted(map(tuple, v)) == sorted(map(tuple, r))
        found: dict[str, list[tuple[int, str]]] = {}
        for slot, upload_info_id, sha in v:
            found.setdefault(slot, []).append((upload_info_id, sha))
        return found

    return store.read(read)


def test_a_new_id_for_the_slot_supersedes_the_original(store: Store) -> None:
    store.add_discovered([ref(1), ref(2, send_date=dt.date(2025, 4, 25))])
    first = store.save_report(item(1, sha="a" * 64), "x")
    assert first is not None and first.correction is None

    saved = store.save_report(item(2, sha="b" * 64, document=document(nav_per_unit={"total": 1.5})), "y")

    assert saved is not None and saved.correction is not None
    assert (saved.correction.kind, saved.correction.superseded_id, saved.correction.current_id) == ("new_id", 1, 2)
    assert _current(store) == {SLOT: [(2, "b" * 64)]}
    old = store.versions([1])[0]
    assert (old["is_current"], old["superseded_by_upload_info_id"], old["superseded_by_sha256"]) == (
        False, 2, "b" * 64)
    assert store.state(1)["state"] == "stored"
    assert store.corrections() == {"same_id": 0, "new_id": 1}


def test_a_correction_stored_before_its_original_stays_current(store: Store) -> None:
    """The original was still pending (or failed and replayed) when its correction was stored."""
    store.add_discovered([ref(1), ref(2, send_date=dt.date(2025, 4, 25))])
    assert store.mark_failed(1, reason="http_4xx", error="HTTP 403")
    store.save_report(item(2, sha="b" * 64), "y")
    assert _current(store) == {SLOT: [(2, "b" * 64)]}

    store.reset_failed([1])
    saved = store.save_report(item(1, sha="a" * 64), "x")

    assert saved is not None and saved.correction is not None and saved.correction.superseded_id == 1
    assert _current(store) == {SLOT: [(2, "b" * 64)]}
    assert store.versions([1])[0]["superseded_by_upload_info_id"] == 2


def test_a_correction_that_keeps_the_send_date_wins_by_its_newer_id(store: Store) -> None:
    store.add_discovered([ref(1), ref(2)])
    store.save_report(item(2, sha="b" * 64), "y")
    store.save_report(item(1, sha="a" * 64), "x")
    assert _current(store) == {SLOT: [(2, "b" * 64)]}


def test_a_changed_page_behind_the_same_id_is_a_new_current_version(store: Store) -> None:
    store.add_discovered([ref(1)])
    store.save_report(item(1, sha="a" * 64), "x")

    corrected = document(nav_per_unit={"total": 1.5})
    saved = store.save_report(item(1, sha="c" * 64, document=corrected), "z")

    assert saved is not None and saved.correction is not None and saved.correction.kind == "same_id"
    assert _current(store) == {SLOT: [(1, "c" * 64)]}
    versions = {row["page_sha256"]: row for row in store.versions([1])}
    assert versions["a" * 64]["superseded_by_sha256"] == "c" * 64 and not versions["a" * 64]["is_current"]
    assert store.document(1)["nav_per_unit"] == {"total": 1.5}
    kept = store.read(lambda c: c.execute(select(report_versions.c.document).where(
        report_versions.c.page_sha256 == "a" * 64)).scalar_one())
    assert kept["nav_per_unit"] == document()["nav_per_unit"]
    assert store.corrections() == {"same_id": 1, "new_id": 0}


def test_saving_the_same_page_again_changes_nothing(store: Store) -> None:
    store.add_discovered([ref(1), ref(2, send_date=dt.date(2025, 4, 25))])
    store.save_report(item(1, sha="a" * 64), "x")
    store.save_report(item(2, sha="b" * 64), "y")
    before = (row_counts(store), store.versions())

    for _ in range(2):
        again = store.save_report(item(2, sha="b" * 64), "y")
        assert again is not None and again.correction is None
        assert store.save_report(item(1, sha="a" * 64), "x") is not None

    after = store.versions()
    assert row_counts(store) == before[0]
    assert [(v["upload_info_id"], v["is_current"], v["superseded_by_upload_info_id"]) for v in after] == [
        (v["upload_info_id"], v["is_current"], v["superseded_by_upload_info_id"]) for v in before[1]]


def test_a_reparse_of_a_superseded_page_refreshes_its_version_only(store: Store) -> None:
    """The same page parsed again (a parser fix) records the new parser on its version; the slot stays settled."""
    store.add_discovered([ref(1), ref(2, send_date=dt.date(2025, 4, 25))])
    store.save_report(item(1, sha="a" * 64), "x")
    store.save_report(item(2, sha="b" * 64), "y")

    again = store.save_report(item(1, sha="a" * 64, version="1.1.0",
                                   document=document(nav_per_unit={"total": 1.7})), "x")

    assert again is not None and again.correction is None
    assert _current(store) == {SLOT: [(2, "b" * 64)]}
    old = store.versions([1])[0]
    assert (old["parser_version"], old["is_current"], old["superseded_by_upload_info_id"]) == ("1.1.0", False, 2)
    assert store.document(1)["nav_per_unit"] == {"total": 1.7}


def test_a_stored_page_saved_after_its_send_date_moved_settles_the_slot_again(store: Store) -> None:
    """The report row's send date changed since its page was stored: saving the page again re-orders the slot."""
    store.add_discovered([ref(1), ref(2, send_date=dt.date(2025, 4, 25))])
    store.save_report(item(1, sha="a" * 64), "x")
    store.save_report(item(2, sha="b" * 64), "y")
    store.write(lambda c: c.execute(update(reports).where(reports.c.upload_info_id == 1)
                                    .values(send_date=dt.date(2025, 5, 1))))

    again = store.save_report(item(1, sha="a" * 64), "x")

    assert again is not None and again.correction is not None
    assert (again.correction.current_id, again.correction.superseded_id) == (1, 2)
    assert _current(store) == {SLOT: [(1, "a" * 64)]}
    assert store.versions([1])[0]["send_date"] == dt.date(2025, 5, 1)


def test_the_database_refuses_a_second_current_version(store: Store) -> None:
    store.add_discovered([ref(1), ref(2, send_date=dt.date(2025, 4, 25))])
    store.save_report(item(1, sha="a" * 64), "x")
    store.save_report(item(2, sha="b" * 64), "y")

    for table in (reports, report_versions):
        with pytest.raises(IntegrityError):
            store.write(lambda c, t=table: c.execute(update(t).where(t.c.upload_info_id == 1).values(is_current=True)))


def test_parallel_saves_of_one_slot_leave_one_current_version(store: Store) -> None:
    """An original, its correction and redeliveries of both, saved at the same moment by four threads."""
    store.add_discovered([ref(1), ref(2, send_date=dt.date(2025, 4, 25))])
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def save(upload_info_id: int, sha: str) -> None:
        barrier.wait()
        try:
            store.save_report(item(upload_info_id, sha=sha), "x")
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=save, args=args)
               for args in ((1, "a" * 64), (2, "b" * 64), (1, "a" * 64), (2, "b" * 64))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert _current(store) == {SLOT: [(2, "b" * 64)]}
    assert len(store.versions()) == 2


def test_migration_carries_stored_reports_over_as_versions(engine_url: str) -> None:
    """A database from before versions: every stored report becomes a version, the newest of a slot current."""
    from alembic import command

    from crawler.storage.schema import alembic_config, upgrade

    with make_engine(engine_url).begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    rows = [(1, "2025-04-21", "a"), (2, "2025-04-25", "b"), (3, "2025-04-21", "c")]
    with make_engine(engine_url).begin() as connection:
        for upload_info_id, send_date, sha in rows:
            connection.execute(text(
                "INSERT INTO reports (upload_info_id, report_type_code, report_year, fund_code, send_date, state, "
                "page_sha256, discovered_at, updated_at, stored_at) VALUES (:id, 'FB030010', '2025', :fund, :sd, "
                "'stored', :sha, :t, :t, :t)"),
                {"id": upload_info_id, "sd": send_date, "sha": sha * 64, "t": "2025-05-01 00:00:00",
                 "fund": "000003" if upload_info_id == 3 else "000001"})

    upgrade(engine_url)

    store = Store.from_url(engine_url)
    assert _current(store) == {SLOT: [(2, "b" * 64)], "000003|FB030010|2025": [(3, "c" * 64)]}
    assert store.versions([1])[0]["superseded_by_upload_info_id"] == 2
