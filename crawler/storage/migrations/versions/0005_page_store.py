"""Pages in the database, compressed against a reference page of their kind; re-parse runs as fleet work.

The raw-page archive moves from each machine's data dir into the database every process of the fleet shares.
``reparse_runs`` / ``reparse_items`` make ``fundcrawl reparse`` a resumable work list any worker can take from.

Revision ID: 0005
Revises: 0010
Create Date: 2026-12-04 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crawler.storage.types

revision: str = "0005"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "page_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_references")),
        sa.UniqueConstraint("kind", "generation", name=op.f("uq_page_references_kind_generation")),
    )
    op.create_table(
        "pages",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("reference_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["reference_id"], ["page_references.id"],
                                name=op.f("fk_pages_reference_id_page_references"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_pages")),
    )
    op.create_index(op.f("ix_pages_reference_id"), "pages", ["reference_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # The bodies are zstd frames already: TOAST compressing them again only costs CPU.
        op.execute("ALTER TABLE pages ALTER COLUMN body SET STORAGE EXTERNAL")
        op.execute("ALTER TABLE page_references ALTER COLUMN content SET STORAGE EXTERNAL")
    op.create_table(
        "reparse_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parser_version", sa.Text(), nullable=False),
        sa.Column("all_reports", sa.Boolean(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reparse_runs")),
    )
    op.create_table(
        "reparse_items",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("upload_info_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", crawler.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["reparse_runs.id"], name=op.f("fk_reparse_items_run_id_reparse_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "upload_info_id", name=op.f("pk_reparse_items")),
    )
    op.create_index(op.f("ix_reparse_items_run_id_state"), "reparse_items", ["run_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reparse_items_run_id_state"), table_name="reparse_items")
    op.drop_table("reparse_items")
    op.drop_table("reparse_runs")
    op.drop_index(op.f("ix_pages_reference_id"), table_name="pages")
    op.drop_table("pages")
    op.drop_table("page_references")
