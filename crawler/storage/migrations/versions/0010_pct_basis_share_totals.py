"""Asset allocation keeps every printed percentage with its basis; share changes have no ``total`` class.

- ``asset_allocation`` gains ``pct`` (the printed percentage, whatever it is a share of) and ``pct_basis``
  (``total_assets``, or ``non_abs_portfolio`` for a REIT's portfolio outside the infrastructure ABS). REIT rows
  had a NULL percentage: their basis is not total assets, so ``pct_of_total_assets`` stays NULL for them.
- ``share_changes`` gains ``class_code``, and its ``total`` rows (a fund-level figure under a magic class name)
  become what ``nav_values`` made of them: a single-class fund's one class, named after the fund; for a
  multi-class fund, whose fund-level column prints only the ending total, ``reports.ending_shares``.

Existing rows are rebuilt from the stored documents, so no page is parsed again.

Revision ID: 0010
Revises: 0003
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from crawler.storage.documents import asset_allocation_rows, report_facts, share_change_rows
from crawler.storage.types import ExactDecimal, to_decimal

revision: str = "0010"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000
_CHANGES = ("beginning", "subscriptions", "redemptions", "split", "ending")

_documents = sa.table(
    "report_documents",
    sa.column("upload_info_id", sa.BigInteger()),
    sa.column("parser_version", sa.Text()),
    sa.column("document", sa.JSON()),
)
_reports = sa.table("reports", sa.column("upload_info_id", sa.BigInteger()),
                    sa.column("ending_shares", ExactDecimal()))
_allocation = sa.table(
    "asset_allocation",
    sa.column("upload_info_id", sa.BigInteger()),
    sa.column("parser_version", sa.Text()),
    sa.column("position", sa.Integer()),
    sa.column("seq", sa.Text()),
    sa.column("category", sa.Text()),
    sa.column("amount_yuan", ExactDecimal()),
    sa.column("pct_of_total_assets", ExactDecimal()),
    sa.column("pct", ExactDecimal()),
    sa.column("pct_basis", sa.String(32)),
)


def _changes_table(with_code: bool) -> sa.TableClause:
    return sa.table(
        "share_changes",
        sa.column("upload_info_id", sa.BigInteger()),
        sa.column("parser_version", sa.Text()),
        sa.column("class_name", sa.Text()),
        *([sa.column("class_code", sa.Text())] if with_code else []),
        *(sa.column(name, ExactDecimal()) for name in _CHANGES),
    )


def upgrade() -> None:
    op.add_column("asset_allocation", sa.Column("pct", ExactDecimal(), nullable=True))
    op.add_column("asset_allocation", sa.Column("pct_basis", sa.String(length=32), nullable=True))
    op.add_column("share_changes", sa.Column("class_code", sa.Text(), nullable=True))
    changes = _changes_table(with_code=True)
    bind = op.get_bind()
    for rows in _stored_documents(bind):
        ids = [row.upload_info_id for row in rows]
        _replace(bind, _allocation, ids, rows, asset_allocation_rows)
        _replace(bind, changes, ids, rows, share_change_rows)
        # Reports stored before the fallback read the fund-level ending only from the NAV figures.
        endings = [{"id": row.upload_info_id, "ending": ending} for row in rows
                   if (ending := report_facts(row.document)["ending_shares"]) is not None]
        if endings:
            bind.execute(
                sa.update(_reports)
                .where(_reports.c.upload_info_id == sa.bindparam("id"), _reports.c.ending_shares.is_(None))
                .values(ending_shares=sa.bindparam("ending", type_=ExactDecimal())),
                endings,
            )


def downgrade() -> None:
    """Back to one row per document key, the fund-level ``total`` included, and no basis columns."""
    bind = op.get_bind()
    changes = _changes_table(with_code=False)
    for rows in _stored_documents(bind):
        _replace(bind, changes, [row.upload_info_id for row in rows], rows, _old_share_change_rows)
    op.drop_column("share_changes", "class_code")
    op.drop_column("asset_allocation", "pct_basis")
    op.drop_column("asset_allocation", "pct")


def _stored_documents(bind: sa.Connection) -> Iterator[Sequence[Any]]:
    """Batches of (upload_info_id, parser_version, document), in id order."""
    select = (
        sa.select(_documents.c.upload_info_id, _documents.c.parser_version, _documents.c.document)
        .where(_documents.c.upload_info_id > sa.bindparam("after"))
        .order_by(_documents.c.upload_info_id)
        .limit(sa.bindparam("limit"))
    )
    after = -1
    while True:
        rows = bind.execute(select, {"after": after, "limit": BATCH}).all()
        if not rows:
            return
        yield rows
        after = rows[-1].upload_info_id


def _replace(bind: sa.Connection, table: sa.TableClause, ids: list[int], rows: Sequence[Any],
             make: Callable[[Any], list[dict[str, Any]]]) -> None:
    """Rebuild ``table``'s rows of these reports from their documents (only the columns this revision has)."""
    bind.execute(sa.delete(table).where(table.c.upload_info_id.in_(ids)))
    names = set(table.c.keys())
    inserts = [
        {key: value for key, value in {"upload_info_id": row.upload_info_id, "parser_version": row.parser_version,
                                       **made}.items() if key in names}
        for row in rows
        for made in make(row.document)
    ]
    if inserts:
        bind.execute(sa.insert(table), inserts)


def _old_share_change_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    changes = document.get("share_changes")
    if not isinstance(changes, Mapping):
        return []
    return [{"class_name": str(key), **{field: to_decimal(values.get(field)) for field in _CHANGES}}
            for key, values in changes.items() if isinstance(values, Mapping)]
