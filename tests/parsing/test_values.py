"""Number, percent and date parsing: every printed form the pages use, and round-trip properties."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.parsing.values import (
    clean_text,
    parse_date,
    parse_int,
    parse_number,
    parse_percent,
    parse_period,
    parse_periods,
)


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("1,945,524,568.91", 1945524568.91),
        ("-3,223,288.86", -3223288.86),
        ("194,356,494.5", 194356494.5),  # trailing zero dropped on the page
        ("7,900.00", 7900.0),
        ("0.8442", 0.8442),
        ("1948.02", 1948.02),  # percentages above 1000 print no separator
        ("0", 0.0),
        ("0.00", 0.0),
        ("\n\t\t1,234.50\n\t", 1234.5),
        ("１２，３４５.６７", 12345.67),  # full-width digits and comma
    ],
)
def test_parse_number_reads_printed_amounts(printed: str, expected: float) -> None:
    assert parse_number(printed) == expected


@pytest.mark.parametrize("marker", ["", "-", "-%", "—", "无", "%", "  ", "\u3000", None])
def test_empty_markers_are_none_not_zero(marker: str | None) -> None:
    assert parse_number(marker) is None
    assert parse_percent(marker) is None


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("13.77 %", 13.77),
        ("\n13.77\n%\n", 13.77),
        ("-21.48 %", -21.48),
        ("0.00 %", 0.0),
        ("98.9127 ％", 98.9127),
    ],
)
def test_parse_percent_reads_percent_units(printed: str, expected: float) -> None:
    assert parse_percent(printed) == expected


@pytest.mark.parametrize("garbage", ["abc", "1.2.3", "12 34x", "99.25 /-", "--5", "1,2a"])
def test_garbage_raises_instead_of_guessing(garbage: str) -> None:
    with pytest.raises(ValueError):
        parse_number(garbage)


def test_parse_int_keeps_counts_exact_and_rejects_fractions() -> None:
    assert parse_int("42,657") == 42657
    assert parse_int("-") is None
    with pytest.raises(ValueError):
        parse_int("2,344.28")


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("2024-12-31", date(2024, 12, 31)),
        ("2025年4月17日", date(2025, 4, 17)),
        ("2025年01月20日", date(2025, 1, 20)),
        ("20250101", date(2025, 1, 1)),
        (" 2021-09-27 ", date(2021, 9, 27)),
        ("-", None),
    ],
)
def test_parse_date_forms(printed: str, expected: date | None) -> None:
    assert parse_date(printed) == expected


def test_parse_date_rejects_text_and_impossible_dates() -> None:
    with pytest.raises(ValueError):
        parse_date("暂未上市")
    with pytest.raises(ValueError):
        parse_date("2024-02-30")


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("2024-01-01至2024-12-31", (date(2024, 1, 1), date(2024, 12, 31))),
        ("2024-01-01 - 2024-06-30", (date(2024, 1, 1), date(2024, 6, 30))),
        ("报告期（2025-01-01 至 2025-03-31）", (date(2025, 1, 1), date(2025, 3, 31))),
        ("德邦资管月月鑫30天滚动债A(元) 2025-01-01 - 2025-03-31", (date(2025, 1, 1), date(2025, 3, 31))),
        ("本报告期：2024-06-18至2024-12-31", (date(2024, 6, 18), date(2024, 12, 31))),
        ("20240101-20241231", (date(2024, 1, 1), date(2024, 12, 31))),
        ("20241301-20241231", None),
        ("2024年", None),
        ("", None),
    ],
)
def test_parse_period(printed: str, expected: tuple[date, date] | None) -> None:
    assert parse_period(printed) == expected


def test_clean_text_collapses_every_kind_of_whitespace() -> None:
    assert clean_text("\ufeff  万 科Ａ\u3000\n\t股份\xa0 ") == "万 科Ａ 股份"


# --- properties -------------------------------------------------------------------------------------


def _grouped(integer: int) -> str:
    return f"{integer:,}"


amounts = st.decimals(min_value=Decimal("-1e13"), max_value=Decimal("1e13"), places=2, allow_nan=False)


@given(amounts)
def test_formatted_amounts_round_trip(value: Decimal) -> None:
    sign = "-" if value < 0 else ""
    whole, _, frac = f"{abs(value):.2f}".partition(".")
    printed = f"{sign}{_grouped(int(whole))}.{frac}"
    assert parse_number(printed) == float(value)


@given(amounts)
def test_dropped_trailing_zeros_and_repr_reproduce_the_digits(value: Decimal) -> None:
    printed = f"{value:.2f}".rstrip("0").rstrip(".")
    parsed = parse_number(printed)
    assert parsed == float(value)
    assert Decimal(repr(parsed)) == Decimal(printed)


@given(
    st.decimals(min_value=Decimal("-9999.99"), max_value=Decimal("9999.99"), places=2, allow_nan=False),
    st.sampled_from(["%", " %", "\n%\n", "％", ""]),
)
def test_percent_round_trip_with_any_sign_layout(value: Decimal, sign: str) -> None:
    assert parse_percent(f"{value:.2f}{sign}") == float(value)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)))
def test_dates_round_trip_in_every_printed_form(day: date) -> None:
    assert parse_date(day.isoformat()) == day
    assert parse_date(f"{day.year}年{day.month}月{day.day}日") == day
    assert parse_date(f"{day.year}年{day.month:02d}月{day.day:02d}日") == day
    assert parse_date(day.strftime("%Y%m%d")) == day


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)), st.integers(0, 400))
def test_periods_round_trip(start: date, days: int) -> None:
    end = date.fromordinal(min(start.toordinal() + days, date(2099, 12, 31).toordinal()))
    for sep in ("至", " 至 ", " - "):
        assert parse_period(f"{start.isoformat()}{sep}{end.isoformat()}") == (start, end)


def test_parse_periods_reads_every_interval_of_a_cell() -> None:
    assert parse_periods("20240312 - 20240318 20240401-20240405") == [
        (date(2024, 3, 12), date(2024, 3, 18)),
        (date(2024, 4, 1), date(2024, 4, 5)),
    ]
    assert parse_periods("-") == []
