"""Cross-checks on a parsed document: does the page agree with itself?

``run_checks`` is pure: document (and the listing row, when known) in, ``name -> None | message`` out. A
check that does not apply to the page (no such section, no listing) is left out rather than passed.
Tolerances follow the printed precision: amounts to the cent, percentages to 2 decimals, NAV per unit to
its 3 or 4 printed decimals. A failed check flags the report; it never drops data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from crawler.models import AllocationRow, ByClass, Holding, IndustryRow, ReportDocument
from crawler.parsing.sections.allocation import PCT_KEYS, TOTAL_KEYS

Doc = ReportDocument

#: Half a unit of the last printed decimal of a percentage, plus float slack.
PCT_TOLERANCE = 0.0051


def run_checks(document: Doc, listing: dict[str, Any] | None) -> dict[str, str | None]:
    """Every applicable check by name: None when it passed, else a message naming the offending item."""
    results: dict[str, str | None] = {}
    for name, check in _CHECKS:
        outcome = check(document)
        if not isinstance(outcome, _NotApplicable):
            results[name] = outcome
    if listing:
        results.update(_listing_checks(document, listing))
    return results


class _NotApplicable:
    """Marker for a check that has nothing to look at on this page."""


_NOT_APPLICABLE = _NotApplicable()
#: What a check says: None when it passed, a message when it failed, or that it does not apply.
Result = str | None | _NotApplicable


def _close(a: float, b: float, tolerance: float) -> bool:
    return math.isclose(a, b, abs_tol=tolerance)


def _cents(*values: float) -> float:
    """Tolerance for a sum of amounts printed to the cent: exact in decimal, so only float error remains."""
    return 0.005 + 1e-9 * sum(abs(v) for v in values)


def _allocation(doc: Doc) -> tuple[list[AllocationRow], str, float] | None:
    """The allocation rows, their percentage key and the printed 合计 those percentages are shares of.

    The percentage key names the basis the page printed (total assets, or for REITs the portfolio held
    outside the infrastructure ABS), and each basis has its own 合计 key.
    """
    rows = doc.get("asset_allocation")
    if not rows:
        return None
    pct_key = next((k for k in PCT_KEYS if k in rows[0]), None)
    printed: Mapping[str, object] = doc
    total = printed.get(TOTAL_KEYS[pct_key]) if pct_key is not None else None
    if pct_key is None or not isinstance(total, int | float):
        return None
    return rows, pct_key, float(total)


def check_asset_total(doc: Doc) -> Result:
    """Top-level asset rows add up to the 合计 row (REIT: the non-ABS portfolio total)."""
    found = _allocation(doc)
    if found is None:
        return _NOT_APPLICABLE
    rows, _, total = found
    amounts = [amount for r in rows if r.get("parent") is None and (amount := r["amount_yuan"]) is not None]
    if not _close(sum(amounts), total, _cents(*amounts)):
        return f"asset items add up to {sum(amounts):.2f}, total printed {total:.2f}"
    return None


def check_balance_sheet(doc: Doc) -> Result:
    """Net assets (净资产合计; REIT 所有者权益合计) and total assets (资产总计) equal the balance sheet."""
    sheet = doc.get("balance_sheet") or {}
    candidates = (
        (
            "net assets",
            (doc.get("total_net_assets") or {}).get("total"),
            sheet.get("净资产合计", sheet.get("所有者权益合计")),
        ),
        ("total assets", doc.get("total_assets"), sheet.get("资产总计")),
    )
    pairs: list[tuple[str, float, float]] = [
        (name, printed, balance)
        for name, printed, balance in candidates
        if printed is not None and balance is not None
    ]
    if not pairs:
        return _NOT_APPLICABLE
    for name, printed, balance in pairs:
        if not _close(printed, balance, 0.005):
            return f"{name} {printed:.2f} in the report, {balance:.2f} in the balance sheet"
    return None


def check_asset_pct(doc: Doc) -> Result:
    """Each asset row's percentage is amount / the total of its printed basis."""
    found = _allocation(doc)
    if found is None or not found[2]:
        return _NOT_APPLICABLE
    rows, pct_key, total = found
    for row in rows:
        amount, pct = row["amount_yuan"], _number(row, pct_key)
        if amount is not None and pct is not None and not _close(amount / total * 100, pct, PCT_TOLERANCE):
            return f"{row.get('category')}: {pct}% printed, {amount / total * 100:.4f}% computed"
    return None


def _number(row: Mapping[str, object], key: str) -> float | None:
    """A figure whose key is known only at run time (a percentage key naming its basis)."""
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else None


def fund_net_assets(doc: Doc) -> float | None:
    """Fund-level net assets: the printed total, else the sum of the class figures."""
    net = doc.get("total_net_assets") or {}
    total = net.get("total")
    if total is not None:
        return float(total)
    return _class_sum(net)


def _class_sum(values: ByClass) -> float | None:
    """The sum of the share classes' figures (the fund's ``total`` left out), None when no class has one."""
    classes = [v for k, v in values.items() if k != "total" and v is not None]
    return float(sum(classes)) if classes else None


def _percentage_rows(doc: Doc) -> list[tuple[str, Holding | IndustryRow]]:
    """Rows of the tables whose ``pct_of_nav`` is value / fund net assets, with their table's key."""
    tables: tuple[tuple[str, list[Holding] | list[IndustryRow]], ...] = (
        ("top_stocks", doc.get("top_stocks", [])),
        ("top_bonds", doc.get("top_bonds", [])),
        ("top_funds", doc.get("top_funds", [])),
        ("precious_metals", doc.get("precious_metals", [])),
        ("industry_allocation", doc.get("industry_allocation", [])),
    )
    return [(key, row) for key, rows in tables for row in rows]


def check_holding_pct(doc: Doc) -> Result:
    """Holding and industry percentages equal fair value / fund net assets."""
    nav = fund_net_assets(doc)
    items = _percentage_rows(doc)
    if not nav or not items:
        return _NOT_APPLICABLE
    for key, row in items:
        value, pct = row.get("fair_value_yuan"), row.get("pct_of_nav")
        if value is not None and pct is not None and not _close(value / nav * 100, pct, PCT_TOLERANCE):
            printed: Mapping[str, object] = row
            name = printed.get("name") or printed.get("industry") or printed.get("code")
            return f"{key} {name}: {pct}% printed, {value / nav * 100:.4f}% of net assets computed"
    return None


def _decimals_tolerance(value: float) -> float:
    """Half a unit of the last printed decimal (NAV prints 3 or 4 decimals; repr keeps the digits)."""
    text = repr(value)
    places = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0 ** -max(places, 3) + 1e-9


def check_nav_per_unit(doc: Doc) -> Result:
    """NAV per unit ≈ net assets / ending shares, per class and for the fund."""
    navs = doc.get("nav_per_unit") or {}
    net = doc.get("total_net_assets") or {}
    shares = doc.get("ending_shares") or {}
    pairs = [
        (k, v, assets, count)
        for k, v in navs.items()
        if v is not None and (assets := net.get(k)) is not None and (count := shares.get(k))
    ]
    if not pairs:
        return _NOT_APPLICABLE
    for key, nav, assets, count in pairs:
        if not _close(assets / count, nav, _decimals_tolerance(nav)):
            return f"{key}: NAV {nav} printed, {assets / count:.6f} = net assets / shares"
    return None


def check_share_changes(doc: Doc) -> Result:
    """Beginning + subscriptions − redemptions (+ split) = ending, per class."""
    changes = doc.get("share_changes") or {}
    complete = [
        (k, beginning, c, ending)
        for k, c in changes.items()
        if (beginning := c.get("beginning")) is not None and (ending := c.get("ending")) is not None
    ]
    if not complete:
        return _NOT_APPLICABLE
    for key, beginning, c, ending in complete:
        parts = [
            beginning,
            c.get("subscriptions") or 0.0,
            -(c.get("redemptions") or 0.0),
            c.get("split") or 0.0,
        ]
        if not _close(sum(parts), ending, _cents(*parts)):
            return f"{key}: {sum(parts):.2f} computed, ending {ending:.2f} printed"
    return None


def _class_sums(doc: Doc) -> Iterator[tuple[str, float, float]]:
    for field, values in (("ending_shares", doc.get("ending_shares")), ("total_net_assets", doc.get("total_net_assets"))):
        total = (values or {}).get("total")
        summed = _class_sum(values or {})
        if total is not None and summed is not None:
            yield field, summed, float(total)


def check_class_totals(doc: Doc) -> Result:
    """Class figures add up to the fund total (shares, net assets)."""
    sums = list(_class_sums(doc))
    if not sums:
        return _NOT_APPLICABLE
    for field, summed, total in sums:
        if not _close(summed, total, _cents(summed, total)):
            return f"{field}: classes add up to {summed:.2f}, fund total printed {total:.2f}"
    return None


def check_holder_totals(doc: Doc) -> Result:
    """Institutional + individual holdings equal the class's ending shares."""
    holders = doc.get("holders") or {}
    shares = doc.get("ending_shares") or {}
    rows = [
        (k, h, ending)
        for k, h in holders.items()
        if (ending := shares.get(k)) is not None and h.get("institutional_shares") is not None
    ]
    if not rows:
        return _NOT_APPLICABLE
    for key, h, ending in rows:
        held = (h.get("institutional_shares") or 0.0) + (h.get("individual_shares") or 0.0)
        if not _close(held, ending, _cents(held, ending)):
            return f"{key}: holders hold {held:.2f}, ending shares {ending:.2f}"
    return None


def check_sections_read(doc: Doc) -> Result:
    """Every section the page prints was read: a heading whose table could not be read flags the report.

    The parser lists such sections in ``unread_sections`` (heading -> why); their keys are absent from the
    document, which would otherwise read as "the page has no such section".
    """
    unread = doc.get("unread_sections") or {}
    if not unread:
        return None
    listed = "; ".join(f"{heading}: {why}" for heading, why in list(unread.items())[:5])
    more = f" (and {len(unread) - 5} more)" if len(unread) > 5 else ""
    return f"{len(unread)} section(s) printed but not read: {listed}{more}"


def _listing_checks(doc: Doc, listing: dict[str, Any]) -> dict[str, str | None]:
    """Cover fund code and send date equal the listing row the report was found under."""
    out: dict[str, str | None] = {}
    send = listing.get("send_date")
    if send is not None:
        send = send.isoformat() if hasattr(send, "isoformat") else str(send)
        out["listing_send_date"] = (
            None if doc.get("send_date") == send else f"page {doc.get('send_date')}, listing {send}"
        )
    code = listing.get("fund_code")
    if code:
        out["listing_fund_code"] = (
            None if _code_matches(doc, str(code)) else f"page {doc.get('fund_code')}, listing {code}"
        )
    return out


def _code_matches(doc: Doc, code: str) -> bool:
    """The listing may name the main code or a class code."""
    codes = {doc.get("fund_code")} | {c.get("code") for c in doc.get("share_classes") or []}
    return code in codes


_CHECKS: tuple[tuple[str, Callable[[Doc], Result]], ...] = (
    ("asset_total", check_asset_total),
    ("asset_pct", check_asset_pct),
    ("holding_pct", check_holding_pct),
    ("nav_per_unit", check_nav_per_unit),
    ("balance_sheet", check_balance_sheet),
    ("share_changes", check_share_changes),
    ("class_totals", check_class_totals),
    ("holder_totals", check_holder_totals),
    ("sections_read", check_sections_read),
)
