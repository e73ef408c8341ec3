"""The database schema as SQLAlchemy Core tables (the migrations in ``migrations/versions`` create the same).

Every table has a natural unique key so that every write can be an upsert, and a rerun after a crash rewrites the
same rows instead of adding new ones: the site's ``uploadInfoId`` for reports, ``(upload_info_id, position)`` for
the rows of a report's tables, and the partition coordinates for discovery bookkeeping.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from crawler.storage.types import ExactDecimal, Json, UTCDateTime

#: Report states; ``stored`` and ``failed`` are terminal.
STATES = ("pending", "fetching", "stored", "failed")
ACTIVE_STATES = ("pending", "fetching")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def _report_fk() -> Column[int]:
    return Column(
        "upload_info_id",
        BigInteger,
        ForeignKey("reports.upload_info_id", ondelete="CASCADE"),
        nullable=False,
    )


reports = Table(
    "reports",
    metadata,
    Column("upload_info_id", BigInteger, primary_key=True, autoincrement=False),
    Column("report_type_code", Text),
    Column("report_year", Text),
    Column("fund_code", Text),
    Column("fund_short_name", Text),
    Column("organ_name", Text),
    Column("report_desp", Text),
    Column("send_date", Date),
    Column("upload_date", Date),
    Column("fund_id", BigInteger),
    Column("period_end", Date),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_until", UTCDateTime),
    Column("lease_token", Text),
    Column("lease_owner", Text),
    Column("enqueued_at", UTCDateTime),
    Column("last_error", Text),
    Column("failure_reason", String(32)),
    Column("page_sha256", String(64)),
    Column("archive_path", Text),
    Column("final_url", Text),
    Column("parser_version", Text),
    Column("checks", Json),
    Column("check_failures", Integer, nullable=False, server_default="0"),
    Column("unknown_sections", Json),
    Column("section_errors", Json),
    Column("discovered_at", UTCDateTime, nullable=False),
    Column("fetched_at", UTCDateTime),
    Column("stored_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # Versions: the report's slot (see versions.slot_key), whether its stored page is the slot's current version
    # (NULL until stored), and which report superseded it. Conditional-request validators of the stored page and
    # when reverification last looked at it.
    Column("slot", Text),
    Column("is_current", Boolean),
    Column("superseded_by", BigInteger),
    Column("superseded_at", UTCDateTime),
    Column("page_etag", Text),
    Column("page_last_modified", Text),
    Column("verified_at", UTCDateTime),
    # What the parsed page says about the report, so no question needs the JSON document: the full fund name, the
    # report kind (q1..q4, interim, annual, profile), the period, the manager and custodian, and the fund-level
    # net assets and shares (the figures a multi-class fund prints for all its classes together).
    Column("fund_name", Text),
    Column("report_kind", String(16)),
    Column("period_start", Date),
    Column("manager", Text),
    Column("custodian", Text),
    Column("total_net_assets", ExactDecimal),
    Column("ending_shares", ExactDecimal),
    CheckConstraint("state IN ('pending', 'fetching', 'stored', 'failed')", name="state"),
    Index(None, "state"),
    # ``fundcrawl status`` reads the newest stored, newest failed and oldest pending reports: with these it
    # walks an index from one end instead of sorting every row of that state (bench/scale.py).
    Index(None, "state", "stored_at"),
    Index(None, "state", "updated_at"),
    Index(None, "state", "discovered_at"),
    Index(None, "report_type_code", "report_year"),
    Index(None, "fund_code", "report_type_code", "report_year", "send_date"),
    Index(
        "ix_reports_active_lease",
        "lease_until",
        postgresql_where=text("state IN ('pending', 'fetching')"),
        sqlite_where=text("state IN ('pending', 'fetching')"),
    ),
    Index(None, "slot"),
    # At most one current report per slot, enforced by the database whatever the writers do.
    Index("uq_reports_current_slot", "slot", unique=True,
          postgresql_where=text("is_current"), sqlite_where=text("is_current")),
)

#: Every page ever stored: one row per (report, page sha256). Exactly one row per slot is current: latest send
#: date, then newest upload_info_id, then the page fetched last. ``document`` holds the parsed document of a page
#: that a newer page of the same report replaced (the report's latest page keeps its document in
#: ``report_documents`` and its rows in the normalized tables); the page itself is in the archive under its sha256.
report_versions = Table(
    "report_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    _report_fk(),
    Column("page_sha256", String(64), nullable=False),
    Column("slot", Text, nullable=False),
    Column("send_date", Date),
    Column("parser_version", Text),
    Column("first_fetched_at", UTCDateTime, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("is_current", Boolean, nullable=False, server_default=false()),
    Column("superseded_by_upload_info_id", BigInteger),
    Column("superseded_by_sha256", String(64)),
    Column("superseded_at", UTCDateTime),
    Column("document", Json),
    UniqueConstraint("upload_info_id", "page_sha256"),
    Index(None, "slot"),
    Index("uq_report_versions_current_slot", "slot", unique=True,
          postgresql_where=text("is_current"), sqlite_where=text("is_current")),
)

report_documents = Table(
    "report_documents",
    metadata,
    Column(
        "upload_info_id",
        BigInteger,
        ForeignKey("reports.upload_info_id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("schema", Text, nullable=False),
    Column("parser_version", Text, nullable=False),
    Column("document", Json, nullable=False),
)

share_classes = Table(
    "share_classes",
    metadata,
    _report_fk(),
    Column("parser_version", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("class_name", Text, nullable=False),
    Column("code", Text),
    UniqueConstraint("upload_info_id", "position"),
)

nav_values = Table(
    "nav_values",
    metadata,
    _report_fk(),
    Column("parser_version", Text, nullable=False),
    # One row per share class: a single-class fund's one class is named after the fund and carries its code;
    # the fund-level totals of a multi-class fund are on its reports row.
    Column("class_name", Text, nullable=False),
    Column("class_code", Text),
    Column("period_end", Date),
    Column("total_net_assets", ExactDecimal),
    Column("nav_per_unit", ExactDecimal),
    Column("ending_shares", ExactDecimal),
    UniqueConstraint("upload_info_id", "class_name"),
)

share_changes = Table(
    "share_changes",
    metadata,
    _report_fk(),
    Column("parser_version", Text, nullable=False),
    # One row per share class, as in nav_values: a single-class fund's one class is named after the fund and
    # carries its code; a multi-class fund's fund-level column prints only the ending total, which is
    # reports.ending_shares.
    Column("class_name", Text, nullable=False),
    Column("class_code", Text),
    Column("beginning", ExactDecimal),
    Column("subscriptions", ExactDecimal),
    Column("redemptions", ExactDecimal),
    Column("split", ExactDecimal),
    Column("ending", ExactDecimal),
    UniqueConstraint("upload_info_id", "class_name"),
)

asset_allocation = Table(
    "asset_allocation",
    metadata,
    _report_fk(),
    Column("parser_version", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("seq", Text),
    Column("category", Text),
    Column("amount_yuan", ExactDecimal),
    # ``pct`` is the printed percentage and ``pct_basis`` what it is a share of: ``total_assets`` for ordinary
    # funds, ``non_abs_portfolio`` for REITs (the portfolio held outside the infrastructure ABS, not the fund's
    # total assets). ``pct_of_total_assets`` repeats ``pct`` only when that is its basis, so a query over it never
    # mixes in a REIT's sub-portfolio share.
    Column("pct_of_total_assets", ExactDecimal),
    Column("pct", ExactDecimal),
    Column("pct_basis", String(32)),
    UniqueConstraint("upload_info_id", "position"),
)

industry_allocation = Table(
    "industry_allocation",
    metadata,
    _report_fk(),
    Column("parser_version", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("market", Text),
    Column("sleeve", Text),
    Column("code", Text),
    Column("industry", Text),
    Column("fair_value_yuan", ExactDecimal),
    Column("pct_of_nav", ExactDecimal),
    UniqueConstraint("upload_info_id", "position"),
)

holdings = Table(
    "holdings",
    metadata,
    _report_fk(),
    Column("parser_version", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("rank", Integer),
    Column("code", Text),
    Column("name", Text),
    Column("quantity", ExactDecimal),
    Column("fair_value_yuan", ExactDecimal),
    Column("pct_of_nav", ExactDecimal),
    Column("extra", Json),
    # ``complete``: the page lists every holding of this kind (annual and interim stock and fund tables);
    # ``top_n``: only the largest few (quarterly top ten, top five bonds, ...). Panels must not mix the two.
    Column("list_scope", String(16)),
    UniqueConstraint("upload_info_id", "kind", "position"),
    Index(None, "code"),
)

#: Tables holding one report's normalized rows: replaced as a whole when the report is saved again.
NORMALIZED = (share_classes, nav_values, share_changes, asset_allocation, industry_allocation, holdings)

discovery_runs = Table(
    "discovery_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("schedule", String(128), nullable=False),
    Column("tick", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False, server_default="scheduled"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False, server_default="running"),
    Column("partitions", Integer, nullable=False, server_default="0"),
    Column("listed", Integer, nullable=False, server_default="0"),
    Column("new", Integer, nullable=False, server_default="0"),
    Column("requests", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("owner", Text),
    UniqueConstraint("schedule", "tick"),
    Index(None, "started_at"),
)

partitions = Table(
    "partitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_type_code", String(16), nullable=False),
    Column("report_year", String(8), nullable=False),
    Column("fund_type", String(16), nullable=False, server_default=""),
    Column("site_total", Integer),
    Column("discovered", Integer),
    Column("complete", Boolean, nullable=False, server_default=false()),
    Column("last_walked_at", UTCDateTime),
    Column("last_checked_at", UTCDateTime),
    Column("last_error", Text),
    UniqueConstraint("report_type_code", "report_year", "fund_type"),
)

partition_windows = Table(
    "partition_windows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_type_code", String(16), nullable=False),
    Column("report_year", String(8), nullable=False),
    Column("fund_type", String(16), nullable=False, server_default=""),
    Column("send_date", Date, nullable=False),
    Column("site_total", Integer),
    Column("seen", Integer),
    Column("complete", Boolean, nullable=False, server_default=false()),
    Column("checked_at", UTCDateTime),
    UniqueConstraint(
        "report_type_code", "report_year", "fund_type", "send_date", name="uq_partition_windows_key"
    ),
)

backfill_jobs = Table(
    "backfill_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("spec", Json, nullable=False),
    Column("status", String(16), nullable=False, server_default="running"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
)

backfill_partitions = Table(
    "backfill_partitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("backfill_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("report_type_code", String(16), nullable=False),
    Column("report_year", String(8), nullable=False),
    Column("fund_type", String(16), nullable=False, server_default=""),
    Column("state", String(16), nullable=False, server_default="todo"),
    Column("site_total", Integer),
    Column("seen", Integer),
    Column("new", Integer),
    Column("updated_at", UTCDateTime),
    UniqueConstraint(
        "job_id", "report_type_code", "report_year", "fund_type", name="uq_backfill_partitions_key"
    ),
)

#: Reference pages: the raw bytes of one page per kind (zstd-compressed on their own), used as a raw-content
#: dictionary for every page of that kind. A page points at its reference with a RESTRICT foreign key, so the
#: database refuses to delete a reference while any page still needs it.
page_references = Table(
    "page_references",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    # 1 for a kind's first reference, then one more for each newer one: unique, so two processes storing the
    # first pages of a kind at once agree on one reference instead of each making its own.
    Column("generation", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "generation"),
)

#: Every archived page, named by the sha256 of the exact bytes the site served, compressed against its reference.
pages = Table(
    "pages",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("codec", String(16), nullable=False),
    Column("reference_id", Integer, ForeignKey("page_references.id", ondelete="RESTRICT")),
    Column("body", LargeBinary, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    Index(None, "reference_id"),
)

#: One ``fundcrawl reparse`` run and its work list: the items are the checkpoint that makes it resumable and
#: the progress ``--wait`` shows, whichever processes of the fleet do the work.
reparse_runs = Table(
    "reparse_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parser_version", Text, nullable=False),
    Column("all_reports", Boolean, nullable=False),
    Column("total", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
)

#: Item states: ``pending`` until a process re-parsed it, then ``updated``, ``unchanged`` or ``failed``.
REPARSE_STATES = ("pending", "updated", "unchanged", "failed")

reparse_items = Table(
    "reparse_items",
    metadata,
    Column("run_id", Integer, ForeignKey("reparse_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("upload_info_id", BigInteger, primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("error", Text),
    Column("updated_at", UTCDateTime),
    Index(None, "run_id", "state"),
)
