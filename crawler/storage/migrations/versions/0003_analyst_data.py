"""Analyst data: numbers that order as numbers on SQLite, report facts as columns, class-level NAV rows, views.

- SQLite decimal columns held the decimal's text, so ``max`` and ``ORDER BY`` compared text and ``sum`` went
  through floats. They now hold the value times 10**4 as an INTEGER (PostgreSQL was NUMERIC already).
- ``reports`` gains the parsed page's fund name, report kind, period start, manager, custodian and fund-level
  net assets and shares; ``nav_values`` gains the class code and the period end, and its ``total`` rows (a
  fund-level figure under a magic class name, NULL NAV for multi-class funds) become the reports columns, or, for
  a single-class fund, its one class; ``holdings`` says whether its list is complete or a top-N.
- The analyst views of :mod:`crawler.storage.views`.

Existing rows are carried over from the stored documents, so no page is parsed again.

Revision ID: 0003
Revises: 0004
Create Date: 2026-12-04 17:10:00
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from crawler.storage.documents import nav_rows, report_facts
from crawler.storage.types import ExactDecimal, from_sqlite_number, to_sqlite_number
from crawler.storage.views import create_views, drop_views

revision: str = "0003"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECIMAL_COLUMNS = {
    "nav_values": ("total_net_assets", "nav_per_unit", "ending_shares"),
    "share_changes": ("beginning", "subscriptions", "redemptions", "split", "ending"),
    "asset_allocation": ("amount_yuan", "pct_of_total_assets"),
    "industry_allocation": ("fair_value_yuan", "pct_of_nav"),
    "holdings": ("quantity", "fair_value_yuan", "pct_of_nav"),
}
REPORT_COLUMNS: dict[str, Any] = {
    "fund_name": sa.Text(),
    "report_kind": sa.String(length=16),
    "period_start": sa.Date(),
    "manager": sa.Text(),
    "custodian": sa.Text(),
    "total_net_assets": ExactDecimal(),
    "ending_shares": ExactDecimal(),
}
BATCH = 2000

_reports = sa.table(
    "reports",
    sa.column("upload_info_id", sa.BigInteger()),
    *(sa.column(name, type_) for name, type_ in REPORT_COLUMNS.items()),
)
_nav = sa.table(
    "nav_values",
    sa.column("upload_info_id", sa.BigInteger()),
    sa.column("parser_version", sa.Text()),
    sa.column("class_name", sa.Text()),
    sa.column("class_code", sa.Text()),
    sa.column("period_end", sa.Date()),
    sa.column("total_net_assets", ExactDecimal()),
    sa.column("nav_per_unit", ExactDecimal()),
    sa.column("ending_shares", ExactDecimal()),
)


def upgrade() -> None:
    bind = op.get_bind()
    for name, type_ in REPORT_COLUMNS.items():
        op.add_column("reports", sa.Column(name, type_, nullable=True))
    op.add_column("nav_values", sa.Column("class_code", sa.Text(), nullable=True))
    op.add_column("nav_values", sa.Column("period_end", sa.Date(), nullable=True))
    op.add_column("holdings", sa.Column("list_scope", sa.String(length=16), nullable=True))
    if bind.dialect.name == "sqlite":
        for table, columns in DECIMAL_COLUMNS.items():
            _scale_text_columns(bind, table, columns)
            # Rebuilding the table with CAST(... AS NUMERIC) turns the scaled text into integers.
            with op.batch_alter_table(table) as batch:
                for name in columns:
                    batch.alter_column(name, type_=ExactDecimal(), existing_type=sa.String(length=64))
    _carry_over_documents(bind)
    op.execute(
        "UPDATE holdings SET list_scope = CASE WHEN kind IN ('stock', 'fund') AND ("
        "SELECT r.report_kind FROM reports r WHERE r.upload_info_id = holdings.upload_info_id"
        ") IN ('annual', 'interim') THEN 'complete' ELSE 'top_n' END"
    )
    create_views(bind)


def _keyset(bind: sa.Connection, sql: str) -> Iterator[Sequence[sa.Row[Any]]]:
    """Batches of ``sql`` (which selects a key first and has ``:after``/``:limit``) in key order."""
    after: Any = -1
    while True:
        rows = bind.execute(sa.text(sql), {"after": after, "limit": BATCH}).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _scale_text_columns(bind: sa.Connection, table: str, columns: Sequence[str]) -> None:
    """Rewrite each decimal's text as the text of its scaled stored form (still text until the table is rebuilt)."""
    selected = ", ".join(columns)
    sql = f"SELECT rowid, {selected} FROM {table} WHERE rowid > :after ORDER BY rowid LIMIT :limit"
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    update = sa.text(f"UPDATE {table} SET {assignments} WHERE rowid = :rowid")
    for rows in _keyset(bind, sql):
        changes = []
        for row in rows:
            values = {
                column: None if row[i + 1] is None else repr(to_sqlite_number(Decimal(str(row[i + 1]))))
                for i, column in enumerate(columns)
            }
            changes.append({"rowid": row[0], **values})
        bind.execute(update, changes)


def _carry_over_documents(bind: sa.Connection) -> None:
    """Fill the new report columns and rebuild each stored report's NAV rows from its stored document."""
    documents = sa.table(
        "report_documents",
        sa.column("upload_info_id", sa.BigInteger()),
        sa.column("parser_version", sa.Text()),
        sa.column("document", sa.JSON()),
    )
    select = (
        sa.select(documents.c.upload_info_id, documents.c.parser_version, documents.c.document)
        .where(documents.c.upload_info_id > sa.bindparam("after"))
        .order_by(documents.c.upload_info_id)
        .limit(sa.bindparam("limit"))
    )
    after = -1
    while True:
        rows = bind.execute(select, {"after": after, "limit": BATCH}).all()
        if not rows:
            return
        after = rows[-1].upload_info_id
        facts = [{"id": row.upload_info_id, **report_facts(row.document)} for row in rows]
        names = list(REPORT_COLUMNS)
        bind.execute(
            sa.update(_reports)
            .where(_reports.c.upload_info_id == sa.bindparam("id"))
            .values({name: sa.bindparam(name, type_=_reports.c[name].type) for name in names}),
            facts,
        )
        ids = [row.upload_info_id for row in rows]
        bind.execute(sa.delete(_nav).where(_nav.c.upload_info_id.in_(ids)))
        navs = [
            {"upload_info_id": row.upload_info_id, "parser_version": row.parser_version, **nav}
            for row in rows
            for nav in nav_rows(row.document)
        ]
        if navs:
            bind.execute(sa.insert(_nav), navs)


def downgrade() -> None:
    bind = op.get_bind()
    drop_views(bind)
    if bind.dialect.name == "sqlite":
        for table, columns in DECIMAL_COLUMNS.items():
            with op.batch_alter_table(table) as batch:
                for name in columns:
                    batch.alter_column(name, type_=sa.String(length=64), existing_type=ExactDecimal())
            _unscale_text_columns(bind, table, columns)
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): rebuilding ``reports`` would cascade-delete every row
    # that references it.
    op.drop_column("holdings", "list_scope")
    op.drop_column("nav_values", "period_end")
    op.drop_column("nav_values", "class_code")
    for name in reversed(REPORT_COLUMNS):
        op.drop_column("reports", name)


def _unscale_text_columns(bind: sa.Connection, table: str, columns: Sequence[str]) -> None:
    selected = ", ".join(columns)
    sql = f"SELECT rowid, {selected} FROM {table} WHERE rowid > :after ORDER BY rowid LIMIT :limit"
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    update = sa.text(f"UPDATE {table} SET {assignments} WHERE rowid = :rowid")
    for rows in _keyset(bind, sql):
        changes = []
        for row in rows:
            values = {
                column: None if row[i + 1] is None else str(from_sqlite_number(_number(row[i + 1])))
                for i, column in enumerate(columns)
            }
            changes.append({"rowid": row[0], **values})
        bind.execute(update, changes)


def _number(value: Any) -> int | float:
    text = str(value)
    try:
        return int(text)
    except ValueError:
        return float(text)
