"""The document the parser makes is the typed ``fundcrawl.report/1`` document, and a value of another type is a
parse error of its section, never passed on for a later stage to guess at."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from crawler import parsing
from crawler.exceptions import ParseError
from crawler.models import ReportDocument, document_problems
from crawler.parsing import parse_report
from tests.parsing.conftest import Parsed
from tests.parsing.test_metadata import PAGES

PAGE = "001056_2024_annual"


def untyped_keys(value: object, hint: Any, path: str) -> Iterator[str]:
    """Every key in ``value`` that its TypedDict does not name, at any depth."""
    while get_origin(hint) in (Union, UnionType):
        arms = [arm for arm in get_args(hint) if arm is not NoneType]
        hint = next((arm for arm in arms if is_typeddict(arm) or get_origin(arm) in (list, dict)), arms[0])
    origin = get_origin(hint)
    if origin is list and isinstance(value, list):
        for index, element in enumerate(value):
            yield from untyped_keys(element, get_args(hint)[0], f"{path}[{index}]")
    elif origin is dict and isinstance(value, Mapping):
        for key, element in value.items():
            yield from untyped_keys(element, get_args(hint)[1], f"{path}.{key}")
    elif is_typeddict(hint) and isinstance(value, Mapping):
        fields = get_type_hints(hint)
        for key, element in value.items():
            if key not in fields:
                yield f"{path}.{key}"
            else:
                yield from untyped_keys(element, fields[key], f"{path}.{key}")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_is_a_report_document_with_no_key_its_type_does_not_name(name: str, parsed: Parsed) -> None:
    document = parsed(name).document
    assert document_problems(document) == []
    assert list(untyped_keys(document, ReportDocument, "document")) == []


def test_a_section_whose_values_have_the_wrong_type_is_an_unread_section(
    monkeypatch: pytest.MonkeyPatch, corpus_dir: Any
) -> None:
    monkeypatch.setattr(parsing, "parse_audit", lambda page: {"audited": "是"})

    report = parse_report((corpus_dir / f"{PAGE}.html").read_bytes())

    assert "audited" not in report.document
    why = "values of an unexpected type: document.audited: str where bool was expected"
    assert report.section_errors["audit"] == why
    assert report.document["unread_sections"]["audit"] == why


def test_a_document_whose_leading_keys_have_the_wrong_type_is_a_parse_error(
    monkeypatch: pytest.MonkeyPatch, corpus_dir: Any
) -> None:
    assemble = parsing.assemble

    def year_as_text(*args: Any, **kwargs: Any) -> Any:
        return {**assemble(*args, **kwargs), "report_year": "2024"}

    monkeypatch.setattr(parsing, "assemble", year_as_text)
    with pytest.raises(ParseError, match="document.report_year: str where int was expected"):
        parse_report((corpus_dir / f"{PAGE}.html").read_bytes())
