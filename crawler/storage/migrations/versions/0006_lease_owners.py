"""Lease and run owners: the process (``host:pid:start``) holding a report's lease or walking a discovery run.

With the owner recorded, a daemon on the same machine can tell that the holder is gone (killed, crashed, the
machine rebooted) and release its work at once instead of waiting out the lease or the run's time limit.
Existing rows get no owner, which means "unknown": they keep waiting out their lease as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column needs no table rebuild on either database.
    op.add_column("reports", sa.Column("lease_owner", sa.Text(), nullable=True))
    op.add_column("discovery_runs", sa.Column("owner", sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of `reports` would break the analyst views that read it.
    op.drop_column("discovery_runs", "owner")
    op.drop_column("reports", "lease_owner")
