"""Analyst views: the common questions as plain SQL views, the same names and columns on SQLite and PostgreSQL.

- ``latest_reports``: each fund's latest stored periodic report (one row per fund).
- ``fund_holdings``: every holding with its fund, report kind and period.
- ``nav_history``: NAV per share class and period end, one row per (fund, class, period end).
- ``security_holders``: for each security, the funds holding it in their latest report.

Numbers come out as numbers: NUMERIC on PostgreSQL; on SQLite the stored scaled integer divided back into a REAL
(exact to 15 significant digits, so values, ``max``, ``min`` and ``ORDER BY`` are right; a ``sum`` over many
REALs may need ``round(..., 2)``, or sum the base table's integers for an exact total).

Only current report versions are analyst data: every view reads reports through :data:`CURRENT`, the one place
that says which reports count.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from crawler.storage.types import SQLITE_SCALE

#: The reports an analyst sees: stored ones, and of a corrected report only its current version.
CURRENT = "r.state = 'stored' AND r.is_current"
#: Report kinds with a period and a portfolio (fund profiles have neither).
PERIODIC = "r.report_kind IN ('q1', 'q2', 'q3', 'q4', 'interim', 'annual')"

_REPORT_COLUMNS = (
    "r.upload_info_id, r.fund_code, r.fund_name, r.report_kind, r.period_start, r.period_end, r.send_date, "
    "r.manager, r.custodian"
)

#: name -> SELECT, with ``{n:column}`` for every decimal column (see :func:`_render`). Dependencies come first.
VIEWS: dict[str, str] = {
    "latest_reports": f"""
SELECT {_REPORT_COLUMNS}, {{n:total_net_assets}}, {{n:ending_shares}}
FROM (
    SELECT r.*, ROW_NUMBER() OVER (
        PARTITION BY r.fund_code ORDER BY r.period_end DESC, r.send_date DESC, r.upload_info_id DESC) AS latest
    FROM reports r
    WHERE {CURRENT} AND {PERIODIC}
) r
WHERE r.latest = 1""",
    "fund_holdings": f"""
SELECT {_REPORT_COLUMNS}, h.kind, h.list_scope, h.position, h.rank, h.code, h.name,
       {{n:h.quantity}}, {{n:h.fair_value_yuan}}, {{n:h.pct_of_nav}}
FROM holdings h JOIN reports r ON r.upload_info_id = h.upload_info_id
WHERE {CURRENT}""",
    "nav_history": f"""
SELECT v.fund_code, v.fund_name, v.class_code, v.class_name, v.period_end, v.report_kind, v.upload_info_id,
       {{n:v.nav_per_unit}}, {{n:v.total_net_assets}}, {{n:v.ending_shares}}
FROM (
    SELECT r.fund_code, r.fund_name, r.report_kind, n.*, ROW_NUMBER() OVER (
        PARTITION BY r.fund_code, COALESCE(n.class_code, n.class_name), n.period_end
        ORDER BY r.send_date DESC, r.upload_info_id DESC) AS latest
    FROM nav_values n JOIN reports r ON r.upload_info_id = n.upload_info_id
    WHERE {CURRENT} AND n.period_end IS NOT NULL
) v
WHERE v.latest = 1""",
    "security_holders": """
SELECT h.code, h.name, h.kind, h.fund_code, h.fund_name, h.report_kind, h.period_end, h.list_scope,
       h.quantity, h.fair_value_yuan, h.pct_of_nav, h.upload_info_id
FROM fund_holdings h JOIN latest_reports l ON l.upload_info_id = h.upload_info_id
WHERE h.code IS NOT NULL""",
}


def _render(sql: str, dialect: str) -> str:
    """Replace ``{n:expr}`` by the number ``expr`` stands for, named after its column."""
    out: list[str] = []
    rest = sql
    while "{n:" in rest:
        before, _, after = rest.partition("{n:")
        expression, _, rest = after.partition("}")
        name = expression.rsplit(".", 1)[-1]
        value = f"{expression} / {10 ** SQLITE_SCALE}.0" if dialect == "sqlite" else expression
        out.append(f"{before}{value} AS {name}")
    out.append(rest)
    return "".join(out)


def create_views(connection: Connection) -> None:
    """(Re)create every analyst view for this connection's engine."""
    drop_views(connection)
    for name, sql in VIEWS.items():
        connection.execute(text(f"CREATE VIEW {name} AS {_render(sql, connection.dialect.name)}"))


def drop_views(connection: Connection) -> None:
    for name in reversed(list(VIEWS)):
        connection.execute(text(f"DROP VIEW IF EXISTS {name}"))
