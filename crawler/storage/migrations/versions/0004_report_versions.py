"""Report versions: every page stored for a report slot, and exactly one current version per slot.

Managers correct published reports, by a new uploadInfoId for the same fund, type and period or by replacing the
page behind the old id. This adds the slot and the current flag to ``reports`` (a partial unique index allows one
current report per slot), the ``report_versions`` history, the validators of each stored page for conditional
re-checks, and carries existing databases over: every stored report becomes the first version of its slot, and
in each slot the report with the latest send date (then the newest id) becomes current.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-04 17:20:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import crawler.storage.types

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW_REPORT_COLUMNS: tuple[sa.Column[Any], ...] = (
    sa.Column("slot", sa.Text(), nullable=True),
    sa.Column("is_current", sa.Boolean(), nullable=True),
    sa.Column("superseded_by", sa.BigInteger(), nullable=True),
    sa.Column("superseded_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column("page_etag", sa.Text(), nullable=True),
    sa.Column("page_last_modified", sa.Text(), nullable=True),
    sa.Column("verified_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
)
#: The slot as :func:`crawler.storage.versions.slot_key` computes it, in SQL both databases speak.
_SLOT_SQL = (
    "CASE WHEN fund_code IS NULL OR fund_code = '' OR report_type_code IS NULL OR report_type_code = '' "
    "THEN 'id:' || CAST(upload_info_id AS TEXT) "
    "WHEN report_type_code LIKE 'FA%' THEN fund_code || '|' || report_type_code "
    "ELSE fund_code || '|' || report_type_code || '|' || COALESCE(report_year, '') END"
)


def upgrade() -> None:
    for column in _NEW_REPORT_COLUMNS:
        op.add_column("reports", column)
    op.create_index(op.f("ix_reports_slot"), "reports", ["slot"], unique=False)
    op.create_table(
        "report_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upload_info_id", sa.BigInteger(), nullable=False),
        sa.Column("page_sha256", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.Text(), nullable=False),
        sa.Column("send_date", sa.Date(), nullable=True),
        sa.Column("parser_version", sa.Text(), nullable=True),
        sa.Column("first_fetched_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_current", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("superseded_by_upload_info_id", sa.BigInteger(), nullable=True),
        sa.Column("superseded_by_sha256", sa.String(length=64), nullable=True),
        sa.Column("superseded_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("document", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(["upload_info_id"], ["reports.upload_info_id"],
                                name=op.f("fk_report_versions_upload_info_id_reports"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_versions")),
        sa.UniqueConstraint("upload_info_id", "page_sha256",
                            name=op.f("uq_report_versions_upload_info_id_page_sha256")),
    )
    op.create_index(op.f("ix_report_versions_slot"), "report_versions", ["slot"], unique=False)
    _carry_over()
    for table in ("reports", "report_versions"):
        op.create_index(f"uq_{table}_current_slot", table, ["slot"], unique=True,
                        postgresql_where=sa.text("is_current"), sqlite_where=sa.text("is_current"))


def _carry_over() -> None:
    """Every stored report becomes the first version of its slot; the newest report of each slot is current."""
    bind = op.get_bind()
    bind.execute(sa.text(f"UPDATE reports SET slot = {_SLOT_SQL}"))
    bind.execute(sa.text(
        "INSERT INTO report_versions (upload_info_id, page_sha256, slot, send_date, parser_version, "
        "first_fetched_at, fetched_at, is_current) "
        "SELECT upload_info_id, page_sha256, slot, send_date, parser_version, "
        "COALESCE(fetched_at, stored_at, updated_at), COALESCE(fetched_at, stored_at, updated_at), false "
        "FROM reports WHERE state = 'stored' AND page_sha256 IS NOT NULL"
    ))
    rows = bind.execute(sa.text(
        "SELECT slot, upload_info_id, send_date FROM reports WHERE state = 'stored' AND page_sha256 IS NOT NULL"
    )).all()
    winners: dict[str, tuple[str, int]] = {}
    for slot, upload_info_id, send_date in rows:
        key = (str(send_date or dt.date.min), int(upload_info_id))
        if slot not in winners or key > winners[slot]:
            winners[slot] = key
    now = sa.bindparam("now", dt.datetime.now(dt.UTC), type_=crawler.storage.types.UTCDateTime(timezone=True))
    by_slot = {slot: upload_info_id for slot, (_, upload_info_id) in winners.items()}
    for slot, upload_info_id, _send_date in rows:
        winner = by_slot[slot]
        if upload_info_id == winner:
            bind.execute(sa.text("UPDATE reports SET is_current = true WHERE upload_info_id = :id"),
                         {"id": upload_info_id})
            bind.execute(sa.text("UPDATE report_versions SET is_current = true WHERE upload_info_id = :id"),
                         {"id": upload_info_id})
        else:
            bind.execute(sa.text("UPDATE reports SET is_current = false, superseded_by = :winner, "
                                 "superseded_at = :now WHERE upload_info_id = :id").bindparams(now),
                         {"id": upload_info_id, "winner": winner})
            bind.execute(sa.text(
                "UPDATE report_versions SET superseded_by_upload_info_id = :winner, superseded_at = :now, "
                "superseded_by_sha256 = (SELECT page_sha256 FROM reports WHERE upload_info_id = :winner) "
                "WHERE upload_info_id = :id").bindparams(now), {"id": upload_info_id, "winner": winner})


def downgrade() -> None:
    for table in ("reports", "report_versions"):
        op.drop_index(f"uq_{table}_current_slot", table_name=table)
    op.drop_index(op.f("ix_report_versions_slot"), table_name="report_versions")
    op.drop_table("report_versions")
    op.drop_index(op.f("ix_reports_slot"), table_name="reports")
    with op.batch_alter_table("reports") as batch:
        for column in reversed(_NEW_REPORT_COLUMNS):
            batch.drop_column(column.name)
