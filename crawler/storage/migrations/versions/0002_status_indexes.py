"""Indexes behind ``fundcrawl status``: newest stored, newest failed and oldest pending reports by state.

Without them each status call sorted every report of a state, so it slowed down as the history grew
(bench/scale.py: 0.4 s at 100,000 reports on SQLite).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("stored_at", "updated_at", "discovered_at")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(op.f(f"ix_reports_state_{column}"), "reports", ["state", column], unique=False)


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(op.f(f"ix_reports_state_{column}"), table_name="reports")
