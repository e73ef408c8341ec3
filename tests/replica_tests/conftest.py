"""Fixtures for the replica's own tests: one replica per module, an httpx client on it, aoData helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.constants import SEARCH_PATH
from tests.replica import Replica


def aodata(**params: Any) -> str:
    """aoData as the site's JS sends it: a JSON list of {name, value}, with DataTables noise."""
    items = [{"name": "sEcho", "value": 1}, {"name": "iColumns", "value": 5}, {"name": "sColumns", "value": ",,,,"}]
    items += [{"name": name, "value": value} for name, value in params.items()]
    return json.dumps(items, ensure_ascii=False)


def search(http: httpx.Client, **params: Any) -> dict[str, Any]:
    params.setdefault("iDisplayStart", 0)
    params.setdefault("iDisplayLength", 20)
    response = http.get(SEARCH_PATH, params={"aoData": aodata(**params), "_": "1700000000000"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def replica(corpus_dir: Any) -> Iterator[Replica]:
    with Replica(corpus=corpus_dir, generate=60, seed=7) as replica:
        yield replica


@pytest.fixture()
def http(replica: Replica) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=replica.url, timeout=10, trust_env=False) as http:
        yield http
