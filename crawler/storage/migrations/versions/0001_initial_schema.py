"""Initial schema: reports and their state machine, parsed documents, normalized tables, discovery bookkeeping.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 20:25:53.625538
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crawler.storage.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: What this revision created for decimals, frozen: NUMERIC on PostgreSQL, the decimal's text on SQLite (revision
#: 0003 turns the SQLite columns into scaled integers). Not the live type, which would change this history.
_DECIMAL = sa.Numeric().with_variant(sa.String(length=64), "sqlite")


def upgrade() -> None:
    op.create_table(
        "backfill_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("created_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_jobs")),
    )
    op.create_table(
        "discovery_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("tick", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), server_default="scheduled", nullable=False),
        sa.Column("started_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("partitions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("listed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("new", sa.Integer(), server_default="0", nullable=False),
        sa.Column("requests", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_runs")),
        sa.UniqueConstraint("schedule", "tick", name=op.f("uq_discovery_runs_schedule_tick")),
    )
    op.create_index(op.f("ix_discovery_runs_started_at"), "discovery_runs", ["started_at"], unique=False)
    op.create_table(
        "partition_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_type_code", sa.String(length=16), nullable=False),
        sa.Column("report_year", sa.String(length=8), nullable=False),
        sa.Column("fund_type", sa.String(length=16), server_default="", nullable=False),
        sa.Column("send_date", sa.Date(), nullable=False),
        sa.Column("site_total", sa.Integer(), nullable=True),
        sa.Column("seen", sa.Integer(), nullable=True),
        sa.Column("complete", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("checked_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partition_windows")),
        sa.UniqueConstraint(
            "report_type_code", "report_year", "fund_type", "send_date", name="uq_partition_windows_key"
        ),
    )
    op.create_table(
        "partitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_type_code", sa.String(length=16), nullable=False),
        sa.Column("report_year", sa.String(length=8), nullable=False),
        sa.Column("fund_type", sa.String(length=16), server_default="", nullable=False),
        sa.Column("site_total", sa.Integer(), nullable=True),
        sa.Column("discovered", sa.Integer(), nullable=True),
        sa.Column("complete", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("last_walked_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partitions")),
        sa.UniqueConstraint(
            "report_type_code",
            "report_year",
            "fund_type",
            name=op.f("uq_partitions_report_type_code_report_year_fund_type"),
        ),
    )
    op.create_table(
        "reports",
        sa.Column("upload_info_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("report_type_code", sa.Text(), nullable=True),
        sa.Column("report_year", sa.Text(), nullable=True),
        sa.Column("fund_code", sa.Text(), nullable=True),
        sa.Column("fund_short_name", sa.Text(), nullable=True),
        sa.Column("organ_name", sa.Text(), nullable=True),
        sa.Column("report_desp", sa.Text(), nullable=True),
        sa.Column("send_date", sa.Date(), nullable=True),
        sa.Column("upload_date", sa.Date(), nullable=True),
        sa.Column("fund_id", sa.BigInteger(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_until", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.Text(), nullable=True),
        sa.Column("enqueued_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failure_reason", sa.String(length=32), nullable=True),
        sa.Column("page_sha256", sa.String(length=64), nullable=True),
        sa.Column("archive_path", sa.Text(), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("parser_version", sa.Text(), nullable=True),
        sa.Column("checks", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("check_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unknown_sections", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("section_errors", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("discovered_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stored_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'fetching', 'stored', 'failed')", name=op.f("ck_reports_state")
        ),
        sa.PrimaryKeyConstraint("upload_info_id", name=op.f("pk_reports")),
    )
    op.create_index(
        "ix_reports_active_lease",
        "reports",
        ["lease_until"],
        unique=False,
        postgresql_where=sa.text("state IN ('pending', 'fetching')"),
        sqlite_where=sa.text("state IN ('pending', 'fetching')"),
    )
    op.create_index(
        op.f("ix_reports_fund_code_report_type_code_report_year_send_date"),
        "reports",
        ["fund_code", "report_type_code", "report_year", "send_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_reports_report_type_code_report_year"),
        "reports",
        ["report_type_code", "report_year"],
        unique=False,
    )
    op.create_index(op.f("ix_reports_state"), "reports", ["state"], unique=False)
    op.create_table(
        "asset_allocation",
        sa.Column("upload_info_id", sa.BigInteger(), nullable=False),
        sa.Column("parser_version", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("amount_yuan", _DECIMAL, nullable=True),
        sa.Column("pct_of_total_assets", _DECIMAL, nullable=True),
        sa.ForeignKeyConstraint(
            ["upload_info_id"],
            ["reports.upload_info_id"],
            name=op.f("fk_asset_allocation_upload_info_id_reports"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "upload_info_id", "position", name=op.f("uq_asset_allocation_upload_info_id_position")
        ),
    )
    op.create_table(
        "backfill_partitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("report_type_code", sa.String(length=16), nullable=False),
        sa.Column("report_year", sa.String(length=8), nullable=False),
        sa.Column("fund_type", sa.String(length=16), server_default="", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="todo", nullable=False),
        sa.Column("site_total", sa.Integer(), nullable=True),
        sa.Column("seen", sa.Integer(), nullable=True),
        sa.Column("new", sa.Integer(), nullable=True),
        sa.Column("updated_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["backfill_jobs.id"],
            name=op.f("fk_backfill_partitions_job_id_backfill_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_partitions")),
        sa.UniqueConstraint(
            "job_id", "report_type_code", "report_year", "fund_type", name="uq_backfill_partitions_key"
        ),
    )
    op.create_table(
        "holdings",
        sa.Column("upload_info_id", sa.BigInteger(), nullable=False),
        sa.Column("parser_version", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("quantity", _DECIMAL, nullable=True),
        sa.Column("fair_value_yuan", _DECIMAL, nullable=True),
        sa.Column("pct_of_nav", _DECIMAL, nullable=True),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["upload_info_id"],
            ["reports.upload_info_id"],
            name=op.f("fk_holdings_upload_info_id_reports"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "upload_info_id", "kind", "position", name=op.f("uq_holdings_upload_info_id_kind_position")
        ),
    )
    op.create_index(op.f("ix_holdings_code"), "holdings", ["code"], unique=False)
    op.create_table(
        "industry_allocation",
        sa.Column("upload_info_id", sa.BigInteger(), nullable=False),
        sa.Column("parser_version", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("market", sa.Text(), nullable=True),
        sa.Column("sleeve", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("industry", sa.Text(), nullable=True),
        sa.Column("fair_value_yuan", _DECIMAL, nullable=True),
        sa.Column("pct_of_nav", _DECIMAL, nullable=True),
        sa.ForeignKeyConstraint(
            ["upload_info_id"],
            ["reports.upload_info_id"],
            name=op.f("fk_industry_allocation_upload_info_id_reports"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "upload_info_id", "position", name=op.f("uq_industry_allocation_upload_info_id_position")
        ),
    )
    op.create_table(
        "nav_values",
        sa.Column("upload_info_id", sa.BigInteger(), nullable=False),
        sa.Column("parser_version", sa.Text(), nullable=False),
        sa.Column("class_name", sa.Text(), nullable=False),
        sa.Column("total_net_assets", _DECIMAL, nullable=True),
        sa.Column("nav_per_unit", _DECIMAL, nullable=True),
        sa.Column("ending_shares", _DECIMAL, nullable=True),
        sa.ForeignKeyConstraint(
            ["upload_info_id"],
            ["reports.upload_info_id"],
            name=op.f("fk_nav_values_upload_info_id_reports"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "upload_info_id", "class_name", name=op.f("uq_nav_values_upload_info_id_class_name")
        ),
    )
    op.create_table(
        "report_documents",
        sa.Column("upload_info_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.Column("parser_version", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(none_as_null=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_info_id"],
            ["reports.upload_info_id"],
            name=op.f("fk_report_documents_upload_info_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_info_id", name=op.f("pk_report_documents")),
    )
    op.create_table(
        "share_changes",
        sa.Column("upload_info_id", sa.BigInteger(), nullable=False),
        sa.Column("parser_version", sa.Text(), nullable=False),
        sa.Column("class_name", sa.Text(), nullable=False),
        sa.Column("beginning", _DECIMAL, nullable=True),
        sa.Column("subscriptions", _DECIMAL, nullable=True),
        sa.Column("redemptions", _DECIMAL, nullable=True),
        sa.Column("split", _DECIMAL, nullable=True),
        sa.Column("ending", _DECIMAL, nullable=True),
        sa.ForeignKeyConstraint(
            ["upload_info_id"],
            ["reports.upload_info_id"],
            name=op.f("fk_share_changes_upload_info_id_reports"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "upload_info_id", "class_name", name=op.f("uq_share_changes_upload_info_id_class_name")
        ),
    )
    op.create_table(
        "share_classes",
        sa.Column("upload_info_id", sa.BigInteger(), nullable=False),
        sa.Column("parser_version", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("class_name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["upload_info_id"],
            ["reports.upload_info_id"],
            name=op.f("fk_share_classes_upload_info_id_reports"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "upload_info_id", "position", name=op.f("uq_share_classes_upload_info_id_position")
        ),
    )


def downgrade() -> None:
    op.drop_table("share_classes")
    op.drop_table("share_changes")
    op.drop_table("report_documents")
    op.drop_table("nav_values")
    op.drop_table("industry_allocation")
    op.drop_index(op.f("ix_holdings_code"), table_name="holdings")
    op.drop_table("holdings")
    op.drop_table("backfill_partitions")
    op.drop_table("asset_allocation")
    op.drop_index(op.f("ix_reports_state"), table_name="reports")
    op.drop_index(op.f("ix_reports_report_type_code_report_year"), table_name="reports")
    op.drop_index(op.f("ix_reports_fund_code_report_type_code_report_year_send_date"), table_name="reports")
    op.drop_index(
        "ix_reports_active_lease",
        table_name="reports",
        postgresql_where=sa.text("state IN ('pending', 'fetching')"),
        sqlite_where=sa.text("state IN ('pending', 'fetching')"),
    )
    op.drop_table("reports")
    op.drop_table("partitions")
    op.drop_table("partition_windows")
    op.drop_index(op.f("ix_discovery_runs_started_at"), table_name="discovery_runs")
    op.drop_table("discovery_runs")
    op.drop_table("backfill_jobs")
