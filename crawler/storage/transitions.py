"""The report state machine as statements on one connection (``Store`` wraps each in a retried transaction).

States: ``pending -> fetching -> stored | failed``. Every transition is a compare-and-set
``UPDATE ... WHERE state = ...``, so two workers handed the same report cannot both own it, and the attempt
counter is committed when a task starts so that a message loop ends in ``failed(poison)``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, or_, select, update
from sqlalchemy.sql import Executable

from crawler.models import ReportRef
from crawler.storage import queries
from crawler.storage.documents import storable
from crawler.storage.tables import ACTIVE_STATES, reports
from crawler.storage.upsert import insert
from crawler.storage.versions import slot_key

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
#: Clears the lease of a report that leaves ``fetching``.
NO_LEASE: dict[str, Any] = {"lease_until": None, "lease_token": None, "lease_owner": None}


@dataclass(frozen=True)
class Claim:
    """A report a task now owns until ``lease_until``; ``attempt`` counts executions, this one included.

    ``listing`` is the report's listing row (see :meth:`Store.listing`), read in the claiming transaction.
    """

    upload_info_id: int
    attempt: int
    lease_until: dt.datetime
    listing: dict[str, Any] = field(default_factory=dict)
    token: str = ""


def error_text(error: str) -> str:
    """``last_error`` as stored: NUL-free and bounded."""
    return str(storable(error))[:MAX_ERROR_CHARS]


def rowcount(connection: Connection, statement: Executable) -> int:
    return int(connection.execute(statement).rowcount)


def scalars(connection: Connection, statement: Executable) -> list[Any]:
    return list(connection.scalars(statement))


def ref_row(ref: ReportRef, now: dt.datetime) -> dict[str, Any]:
    """A new ``pending`` row for a listed report; ``enqueued_at`` is now because discovery enqueues next."""
    return {
        "upload_info_id": ref.upload_info_id,
        "report_type_code": ref.report_type_code,
        "report_year": ref.report_year,
        "fund_code": storable(ref.fund_code),
        "fund_short_name": storable(ref.fund_short_name),
        "organ_name": storable(ref.organ_name),
        "report_desp": storable(ref.report_desp),
        "send_date": ref.send_date,
        "upload_date": ref.upload_date,
        "fund_id": ref.fund_id,
        "slot": slot_key(ref.fund_code, ref.report_type_code, ref.report_year, ref.upload_info_id),
        "state": "pending",
        "attempts": 0,
        "check_failures": 0,
        "discovered_at": now,
        "enqueued_at": now,
        "updated_at": now,
    }


def insert_new(connection: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING``: the ids this statement inserted."""
    statement = (
        insert(connection, reports)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["upload_info_id"])
        .returning(reports.c.upload_info_id)
    )
    return list(connection.scalars(statement))


def _claimable(upload_info_id: int, now: dt.datetime, token: str) -> ColumnElement[bool]:
    # A lease still held by the same token may be claimed again: a Celery retry keeps its task id, and when
    # the database was down the failed attempt could not release its lease (it would otherwise wait it out).
    reclaim = [reports.c.lease_token == token] if token else []
    expired = or_(reports.c.lease_until.is_(None), reports.c.lease_until <= now, *reclaim)
    return and_(
        reports.c.upload_info_id == upload_info_id,
        or_(reports.c.state == "pending", and_(reports.c.state == "fetching", expired)),
    )


def claim(
    connection: Connection,
    upload_info_id: int,
    *,
    now: dt.datetime,
    lease_until: dt.datetime,
    max_attempts: int,
    token: str,
    owner: str = "",
) -> Claim | None:
    """Take the report (CAS) or, once it used ``max_attempts`` executions, end it ``failed(poison)``."""
    claimable = _claimable(upload_info_id, now, token)
    taken = connection.execute(
        update(reports)
        .where(claimable, reports.c.attempts < max_attempts)
        .values(
            state="fetching",
            attempts=reports.c.attempts + 1,
            lease_until=lease_until,
            lease_token=token or None,
            lease_owner=owner or None,
            updated_at=now,
        )
        .returning(reports.c.attempts, *queries.LISTING)
    ).first()
    if taken is not None:
        return Claim(upload_info_id, taken.attempts, lease_until, queries.listing_of(taken), token)
    poison = update(reports).where(claimable, reports.c.attempts >= max_attempts)
    poison = poison.values(
        state="failed",
        failure_reason="poison",
        updated_at=now,
        **NO_LEASE,
        last_error=f"gave up after {max_attempts} executions",
    )
    if rowcount(connection, poison):
        log.warning("report %s failed: poison after %d executions", upload_info_id, max_attempts)
    return None


def release(
    upload_info_id: int, *, error: str, retry_at: dt.datetime, token: str, now: dt.datetime, refund: bool = False,
    republish: bool = False,
) -> Executable:
    """``fetching -> pending``; the lease now means "not before ``retry_at``" to the reconciler.

    ``refund`` gives the execution back: the failure was the machine's (a full disk, a locked database), so
    it must not bring the report closer to ``failed(poison)`` however long the condition lasts.
    ``republish``: no retry message is pending anywhere, the reconciler publishes the report again once
    ``retry_at`` has passed (it is marked never enqueued).
    """
    owner = [reports.c.lease_token == token] if token else []
    attempts = {"attempts": reports.c.attempts - 1} if refund else {}
    extra: dict[str, Any] = {"enqueued_at": None} if republish else {}
    return (
        update(reports)
        .where(reports.c.upload_info_id == upload_info_id, reports.c.state == "fetching", *owner)
        .values(
            state="pending",
            lease_until=retry_at,
            lease_token=None,
            lease_owner=None,
            last_error=error_text(error),
            updated_at=now,
            **attempts,
            **extra,
        )
    )


def fail(upload_info_id: int, *, reason: str, error: str, now: dt.datetime) -> Executable:
    """``pending | fetching | failed -> failed(reason)``; a stored report stays stored."""
    return (
        update(reports)
        .where(reports.c.upload_info_id == upload_info_id, reports.c.state != "stored")
        .values(
            state="failed", failure_reason=reason, last_error=error_text(error), updated_at=now, **NO_LEASE
        )
    )


def enqueued(ids: Sequence[int], now: dt.datetime) -> Executable:
    return (
        update(reports)
        .where(reports.c.upload_info_id.in_(ids), reports.c.state.in_(ACTIVE_STATES))
        .values(enqueued_at=now)
    )


def reset(ids: Sequence[int], now: dt.datetime) -> Executable:
    """``failed -> pending`` with a fresh attempt budget (replay)."""
    return (
        update(reports)
        .where(reports.c.upload_info_id.in_(ids), reports.c.state == "failed")
        .values(state="pending", attempts=0, failure_reason=None, enqueued_at=now, updated_at=now, **NO_LEASE)
    )


def requeue_candidates(now: dt.datetime, cutoff: dt.datetime, limit: int) -> Select[Any]:
    """Active reports with no live lease, not enqueued since ``cutoff``; longest-waiting first."""
    return (
        select(reports.c.upload_info_id)
        .where(
            reports.c.state.in_(ACTIVE_STATES),
            or_(reports.c.lease_until.is_(None), reports.c.lease_until <= now),
            or_(reports.c.enqueued_at.is_(None), reports.c.enqueued_at <= cutoff),
        )
        .order_by(reports.c.enqueued_at, reports.c.upload_info_id)
        .limit(limit)
    )


def pull_back_leases(now: dt.datetime, latest: dt.datetime) -> Executable:
    """Leases and retry times later than ``latest`` (further ahead than the daemon ever sets) end at ``latest``."""
    return (
        update(reports)
        .where(reports.c.state.in_(ACTIVE_STATES), reports.c.lease_until > latest)
        .values(lease_until=latest, updated_at=now)
    )


def pull_back_enqueued(now: dt.datetime) -> Executable:
    """Publish times in the future become ``now``, so the reconciler's grace counts from a time that has been."""
    return update(reports).where(reports.c.state.in_(ACTIVE_STATES), reports.c.enqueued_at > now).values(
        enqueued_at=now)


def leases_owned_on(host: str) -> Select[Any]:
    """Active reports whose lease or retry is held by a process of ``host`` (``lease_owner`` is host:pid:start)."""
    return select(reports.c.upload_info_id, reports.c.lease_owner).where(
        reports.c.state.in_(ACTIVE_STATES), reports.c.lease_owner.like(f"{host}:%"))


def release_owner(ids: Sequence[int], owner: str, now: dt.datetime) -> Executable:
    """Give back what a vanished process held: ``pending`` with no lease, and "never enqueued" so the reconciler
    republishes it on its next pass (the process's message died with it). The owner in the WHERE clause keeps a
    report that was claimed again meanwhile untouched."""
    return (
        update(reports)
        .where(reports.c.upload_info_id.in_(ids), reports.c.lease_owner == owner,
               reports.c.state.in_(ACTIVE_STATES))
        .values(state="pending", enqueued_at=None, updated_at=now, **NO_LEASE)
    )
