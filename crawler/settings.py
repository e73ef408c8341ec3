"""All configuration, read from ``FUNDCRAWL_*`` environment variables and ``.env``.

This is the only module that reads the environment. Composition roots (the Celery app, the CLI, task bodies)
call :func:`get_settings`; everything below them receives plain values. Tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from crawler.exceptions import ConfigError

ENV_PREFIX = "FUNDCRAWL_"
DEFAULT_DATA_DIR = Path("./data")

#: Scrapy-style ordered pipeline mapping: dotted path -> priority (lower runs first, None disables).
DEFAULT_PIPELINES: dict[str, int | None] = {
    "pipelines.validate.ValidatePipeline": 100,
    "pipelines.dedupe.DedupePipeline": 200,
    "pipelines.store.StorePipeline": 300,
}


def embedded_database_url(data_dir: Path) -> str:
    """The embedded SQLite database in a data dir: the database when none is configured."""
    return f"sqlite:///{(data_dir / 'fundcrawl.sqlite').resolve()}"


class Settings(BaseSettings):
    """Every knob of the daemon. Field ``foo`` is read from ``FUNDCRAWL_FOO``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # --- where things are -------------------------------------------------------------------------------
    source_url: str = Field("http://eid.csrc.gov.cn", description="Base URL of the EID site (or a replica).")
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Archive, embedded database and embedded broker live here.")
    database_url: SecretStr | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir.")
    broker_url: SecretStr | None = Field(None, description="Celery broker URL; default SQLite in the data dir.")
    redis_url: SecretStr | None = Field(
        None, description="Redis for the fleet-wide rate limit and breaker; default the broker when it is Redis."
    )
    schedules: Path = Field(Path("schedules"), description="A schedule YAML file or a folder of them.")

    # --- politeness --------------------------------------------------------------------------------------
    rate_limit: float = Field(2.0, gt=0, le=1000, description="Requests per second to the site, whole fleet.")
    user_agent: str = Field(
        "fundcrawl/0.1 (+https://github.com/fundcrawl/fundcrawl; fund-report archiver)",
        description="Honest User-Agent; keep a contact URL in it.",
    )
    contact_url: str = Field("https://github.com/fundcrawl/fundcrawl", description="Contact URL sent to the site.")
    connect_timeout: float = Field(10.0, gt=0, le=120)
    read_timeout: float = Field(30.0, gt=0, le=300)
    max_page_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Decoded-size cap for one response.")
    max_redirects: int = Field(5, ge=0, le=10)
    request_deadline: float = Field(90.0, gt=0, le=900, description="Wall-clock cap on one request, redirects and body included.")
    breaker_threshold: int = Field(5, ge=1, description="429/403 answers within the window that open the breaker.")
    breaker_window: float = Field(60.0, gt=0, description="Seconds over which 429/403 answers are counted.")
    breaker_cooldown: float = Field(300.0, gt=0, description="Seconds crawling pauses once the breaker opens.")
    politeness_key_prefix: str = Field(
        "fundcrawl:politeness", pattern=r"^[A-Za-z0-9:_.-]{1,100}$", description="Redis key / state-file prefix of the limiter and breaker."
    )

    # --- work --------------------------------------------------------------------------------------------
    concurrency: int = Field(2, ge=1, le=64, description="Worker processes per worker.")
    max_attempts: int = Field(8, ge=1, le=50, description="Executions of one report before it fails for good.")
    task_time_limit: int = Field(300, ge=10, description="Hard time limit of a report task, seconds.")
    task_soft_time_limit: int = Field(240, ge=5)
    discovery_time_limit: int | None = Field(
        None, ge=30, description="Hard time limit of a discovery run, seconds; default half the visibility timeout."
    )
    retry_backoff_max: int = Field(600, ge=1, description="Longest retry countdown, seconds.")
    visibility_timeout: int = Field(3600, ge=30, description="Redis broker visibility timeout, seconds.")
    lease_seconds: int = Field(600, ge=10, description="How long a report task owns its row before the reconciler may re-enqueue it.")
    reconcile_every: float = Field(30.0, gt=0, description="Seconds between reconciler runs.")
    worker_max_tasks_per_child: int = Field(200, ge=1)
    worker_max_memory_per_child: int = Field(256000, ge=10000, description="KiB.")
    pipelines: dict[str, int | None] = Field(default_factory=lambda: dict(DEFAULT_PIPELINES))

    # --- operations --------------------------------------------------------------------------------------
    sentry_dsn: SecretStr | None = Field(None, description="Empty = Sentry off.")
    sentry_environment: str = "production"
    freshness_delay_hours: float = Field(6.0, gt=0, description="Alert when a listed report is not stored by send date + this.")
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Prometheus endpoint port; unset = off.")
    task_events: bool = Field(
        False, description="Send Celery task events (for Flower or the Celery Prometheus exporter); ~1-2 ms CPU a report."
    )
    test_fault: str = Field(
        "", pattern=r"^$|^[a-z_]+:p=(0(\.\d+)?|1(\.0+)?)$",
        description="Test builds only (the chaos battery): <point>:p=<probability> SIGKILLs a worker child at "
        "that point, e.g. after_commit_before_ack:p=0.05. Empty (the default) = off.",
    )

    @field_validator("source_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://eid.csrc.gov.cn")
        return value.rstrip("/")

    @field_validator("database_url", "broker_url", "redis_url", "sentry_dsn", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: SecretStr | None) -> SecretStr | None:
        # Only the two databases the schema and the tests cover; anything else fails at start, not mid-crawl.
        if value is not None:
            scheme = urlsplit(value.get_secret_value()).scheme.split("+")[0]
            if scheme not in ("sqlite", "postgresql", "postgres"):
                raise ValueError(f"unsupported database {scheme + '://' if scheme else 'URL'}; use "
                                 "sqlite:///path/to/file.sqlite or postgresql+psycopg2://user:pw@host/db")
        return value

    @field_validator("broker_url")
    @classmethod
    def _supported_broker(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            scheme = urlsplit(value.get_secret_value()).scheme
            if scheme not in ("redis", "rediss", "sqla+sqlite"):
                raise ValueError(f"unsupported broker {scheme + '://' if scheme else 'URL'}; use "
                                 "redis://host:6379/0 or leave it unset for the embedded SQLite broker")
        return value

    @model_validator(mode="after")
    def _time_budget_fits_visibility(self) -> Settings:
        # The one place where the time budget is written down and checked at start-up. A redelivered message
        # must never overtake a task that is still running or waiting to retry:
        # visibility timeout >= 2 x (hard limit + longest retry countdown); the lease outlives the hard limit;
        # one request's I/O deadline ends before the soft limit.
        need = 2 * (self.task_time_limit + self.retry_backoff_max)
        if self.visibility_timeout < need:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout}s) must be at least 2 x (task_time_limit "
                f"+ retry_backoff_max) = {need}s"
            )
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("task_soft_time_limit must be below task_time_limit")
        if self.lease_seconds <= self.task_time_limit:
            raise ValueError("lease_seconds must exceed task_time_limit so a running task keeps its report")
        if self.discovery_time_limit is not None and 2 * self.discovery_time_limit > self.visibility_timeout:
            raise ValueError("discovery_time_limit must be at most half the visibility_timeout")
        if self.request_deadline >= self.task_soft_time_limit:
            raise ValueError("request_deadline must be below task_soft_time_limit: a slow site ends as a retry, "
                             "not as a task killed by its time limit")
        return self

    # --- derived values ----------------------------------------------------------------------------------
    @property
    def discovery_limit(self) -> int:
        """Seconds a discovery run may take: walking a 14,000-row partition at 2 req/s takes about 6 minutes,
        far above a report task's limit, and a run must end before the broker would redeliver it."""
        return self.discovery_time_limit or self.visibility_timeout // 2

    @property
    def database(self) -> str:
        """The SQLAlchemy URL (a secret: never log it unmasked)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return embedded_database_url(self.data_dir)

    @property
    def broker(self) -> str:
        """The Celery broker URL (a secret: never log it unmasked)."""
        if self.broker_url is not None:
            return self.broker_url.get_secret_value()
        return f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    @property
    def embedded(self) -> bool:
        """True when the broker is the single-machine SQLite one (no Redis)."""
        return not self.broker.startswith(("redis://", "rediss://"))

    @property
    def redis(self) -> str | None:
        """Redis URL shared by the fleet, or None in the embedded mode (local file-based equivalents)."""
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        return None if self.embedded else self.broker

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def source_host(self) -> str:
        return urlsplit(self.source_url).hostname or ""

    @property
    def sentry(self) -> str | None:
        return self.sentry_dsn.get_secret_value() if self.sentry_dsn is not None else None


_SECRET_FIELDS = frozenset({"database_url", "broker_url", "redis_url", "sentry_dsn"})


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = item["loc"]
        name = ENV_PREFIX + "_".join(str(part) for part in loc).upper() if loc else "settings"
        got = item.get("input")
        # URLs and DSNs carry passwords: never echo them back.
        secret = bool(loc) and loc[0] in _SECRET_FIELDS
        shown = "" if isinstance(got, dict) or got is None or secret else f" (got {str(got)[:80]!r})"
        lines.append(f"{name}: {item['msg'].removeprefix('Value error, ')}{shown}")
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning validation failures into a ConfigError that names each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error), source="environment") from error
    except SettingsError as error:
        # pydantic-settings decodes JSON-valued variables itself and names only the field.
        match = re.search(r'field "(\w+)"', str(error))
        name = ENV_PREFIX + match.group(1).upper() if match else "a FUNDCRAWL_ variable"
        raise ConfigError(f"{name}: not valid JSON; give a JSON object such as "
                          '\'{"pipelines.validate.ValidatePipeline": 100}\'', source="environment") from error


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
