"""Fixtures for the telemetry tests: canary secrets, the fake Sentry ingest, a clean Sentry client."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sentry_sdk

from crawler.settings import Settings
from tests.fakes.sentry_ingest import SentryIngest

PG_CANARY = "PgCan4ry+p@ss/word"
REDIS_CANARY = "RedisCan4ryPw"
DSN_CANARY = "dsncanary0123456789abcdef"


def canary_forms(secret: str) -> list[str]:
    """Plain, URL-encoded and base64 forms of a secret (base64 at each byte alignment)."""
    forms = [secret, quote(secret, safe="")]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + secret.encode()).decode().rstrip("=")
        forms.append(encoded[-(-8 * pad // 6): 8 * (pad + len(secret)) // 6])
    return forms


def leaked(text: str | bytes) -> list[str]:
    """Every canary form found in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [form for secret in (PG_CANARY, REDIS_CANARY, DSN_CANARY) for form in canary_forms(secret) if form in text]


def canary_settings(tmp_path: Path, dsn: str | None, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"postgresql://fundcrawl:{quote(PG_CANARY, safe='')}@127.0.0.1:5432/fundcrawl",
        broker_url=f"redis://:{REDIS_CANARY}@127.0.0.1:6379/9",
        sentry_dsn=dsn,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def ingest() -> Iterator[SentryIngest]:
    with SentryIngest(key=DSN_CANARY) as server:
        yield server


@pytest.fixture(autouse=True)
def sentry_off() -> Iterator[None]:
    """Leave no Sentry client behind: other tests must start with Sentry off."""
    yield
    sentry_sdk.get_client().close(timeout=1)
    sentry_sdk.init(dsn=None)


@pytest.fixture
def restore_root() -> Iterator[None]:
    """Put the root logger's handlers and level back after a test that configured logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
