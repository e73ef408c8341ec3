"""Settings: defaults, environment and .env, and failures that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.exceptions import ConfigError
from crawler.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("FUNDCRAWL_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_embedded_single_machine_setup() -> None:
    settings = load_settings()
    assert settings.source_url == "http://eid.csrc.gov.cn"
    assert settings.rate_limit == 2.0
    assert settings.embedded and settings.redis is None and settings.sentry is None
    assert settings.database.startswith("sqlite:///") and settings.database.endswith("data/fundcrawl.sqlite")
    assert settings.broker.startswith("sqla+sqlite:///") and settings.broker.endswith("data/broker.sqlite")


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FUNDCRAWL_RATE_LIMIT=0.5\nFUNDCRAWL_CONCURRENCY=3\n", encoding="utf-8")
    monkeypatch.setenv("FUNDCRAWL_BROKER_URL", "redis://:secret@127.0.0.1:6379/0")
    settings = load_settings()
    assert (settings.rate_limit, settings.concurrency) == (0.5, 3)
    assert not settings.embedded and settings.redis == "redis://:secret@127.0.0.1:6379/0"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("FUNDCRAWL_RATE_LIMIT", "-1", "greater than 0"),
        ("FUNDCRAWL_RATE_LIMIT", "fast", "valid number"),
        ("FUNDCRAWL_SOURCE_URL", "ftp://eid.csrc.gov.cn", "http(s) URL"),
        ("FUNDCRAWL_CONCURRENCY", "0", "greater than or equal to 1"),
        ("FUNDCRAWL_LOG_FORMAT", "xml", "'text' or 'json'"),
    ],
)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert variable in str(caught.value) and words in str(caught.value)


def test_time_limits_must_fit_the_visibility_timeout() -> None:
    with pytest.raises(ConfigError, match="visibility_timeout"):
        load_settings(visibility_timeout=600, task_time_limit=300, retry_backoff_max=600)
    with pytest.raises(ConfigError, match="lease_seconds"):
        load_settings(lease_seconds=100, task_time_limit=300)
    with pytest.raises(ConfigError, match="request_deadline"):
        load_settings(request_deadline=240, task_soft_time_limit=240)


def test_empty_optional_urls_mean_unset() -> None:
    settings = Settings(sentry_dsn="", database_url="")  # type: ignore[arg-type]
    assert settings.sentry is None and settings.database.startswith("sqlite:///")


def test_celery_task_events_are_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from crawler.celery_app import celery_config

    monkeypatch.setenv("FUNDCRAWL_SCHEDULES", str(Path(__file__).resolve().parents[1] / "schedules"))
    quiet = celery_config(load_settings())
    assert quiet["worker_send_task_events"] is False and quiet["task_send_sent_event"] is False
    monkeypatch.setenv("FUNDCRAWL_TASK_EVENTS", "true")
    loud = celery_config(load_settings())
    assert loud["worker_send_task_events"] is True and loud["task_send_sent_event"] is True
