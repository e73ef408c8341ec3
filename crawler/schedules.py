"""Schedule files: YAML -> validated entries -> Celery beat_schedule.

A schedule file looks like::

    timezone: Asia/Shanghai          # cron is read in this zone (the default)
    schedules:
      recent-periodic-reports:        # entry name: beat entry and Sentry monitor slug
        cron: "15 * * * *"            # or: every: 30m
        discover:
          report_types: [annual, interim, q1, q2, q3, q4]   # names, or EID codes such as FB010010
          years: [current, previous]  # or explicit years; `all` for types filed without a year (profiles)
          sent_within_days: 14        # optional; omitted = walk the whole partition
          fund_types: [equity, bond]  # optional; names or codes such as 6020-6010
      nightly-reconcile:
        cron: "30 3 * * *"
        reconcile:
          report_types: [annual, q4]
          years: [current, previous]
      reverify-stored:
        cron: "0 2 * * *"
        reverify:                     # re-fetch stored pages (conditional GET) to notice corrections in place
          report_types: [annual, q4]
          years: [current, previous]
          max_requests: 500           # per run; most overdue reports first

Every problem is reported as a :class:`ConfigError` naming the file and the entry.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from celery.schedules import crontab
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crawler.exceptions import ConfigError
from crawler.models import FUND_TYPES, REPORT_TYPES, SITE_TIMEZONE_NAME

_EVERY = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CODE = re.compile(r"^F[ABC]\d{3}(\d{3})?$")
_ENTRY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


def report_type_code(value: object) -> str:
    """The EID code of a report-type name (``annual``) or code (``FB010010``); ValueError for anything else."""
    text = str(value).strip()
    if text in REPORT_TYPES:
        return REPORT_TYPES[text]
    if _CODE.match(text):
        return text
    raise ValueError(f"unknown report type {text!r}; use one of {', '.join(REPORT_TYPES)} or an EID code like FB010010")


def _fund_type_code(value: object) -> str:
    text = str(value).strip()
    if text in FUND_TYPES:
        return FUND_TYPES[text]
    if text in FUND_TYPES.values():
        return text
    raise ValueError(f"unknown fund type {text!r}; use one of {', '.join(FUND_TYPES)} or a code like 6020-6010")


def _year(value: object) -> str:
    text = str(value).strip()
    if text in ("current", "previous", "all") or re.fullmatch(r"(19|20)\d\d", text):
        return text
    raise ValueError(f"bad year {text!r}; use current, previous, all or a year such as 2024")


ReportTypeCode = Annotated[str, BeforeValidator(report_type_code)]
FundTypeCode = Annotated[str, BeforeValidator(_fund_type_code)]
Year = Annotated[str, BeforeValidator(_year)]


class PartitionSpec(BaseModel):
    """Which partitions (report type x year [x fund type]) an entry looks at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_types: list[ReportTypeCode] = Field(min_length=1)
    years: list[Year] = Field(default_factory=lambda: ["current"], min_length=1)
    fund_types: list[FundTypeCode] = Field(default_factory=list)

    def resolve_years(self, today: dt.date) -> list[str]:
        """Concrete reportYear filter values for ``today`` ("" means any year, as the site's UI sends)."""
        resolved = {"current": str(today.year), "previous": str(today.year - 1), "all": ""}
        return list(dict.fromkeys(resolved.get(year, year) for year in self.years))


class DiscoverSpec(PartitionSpec):
    sent_within_days: int | None = Field(None, ge=1, le=3660)


class ReverifySpec(DiscoverSpec):
    """Re-fetch stored reports to notice pages corrected behind the same uploadInfoId.

    Each report is checked again once ``max(min_interval, its age / age_divisor)`` has passed since its last
    check, so reports sent this week are checked daily and three-year-old ones every few months; at most
    ``max_requests`` requests to the site per run, most overdue first.
    """

    max_requests: int = Field(200, ge=1, le=100_000)
    min_interval: str = "1d"
    age_divisor: int = Field(10, ge=1, le=10**9)

    @field_validator("min_interval")
    @classmethod
    def _valid_interval(cls, value: str) -> str:
        every_seconds(value)
        return value

    @property
    def min_interval_seconds(self) -> int:
        return every_seconds(self.min_interval)


class Entry(BaseModel):
    """One schedule entry; exactly one of ``cron``/``every`` and one of ``discover``/``reconcile``/``reverify``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str | None = None
    every: str | None = None
    discover: DiscoverSpec | None = None
    reconcile: PartitionSpec | None = None
    reverify: ReverifySpec | None = None
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            cron_schedule(value)
        return value

    @field_validator("every")
    @classmethod
    def _valid_every(cls, value: str | None) -> str | None:
        if value is not None:
            every_seconds(value)
        return value

    @model_validator(mode="after")
    def _one_of_each(self) -> Entry:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of `cron` or `every`")
        if sum(kind is not None for kind in (self.discover, self.reconcile, self.reverify)) != 1:
            raise ValueError("give exactly one of `discover`, `reconcile` or `reverify`")
        return self

    @property
    def action(self) -> Literal["discover", "reconcile", "reverify"]:
        if self.discover is not None:
            return "discover"
        return "reconcile" if self.reconcile is not None else "reverify"

    @property
    def spec(self) -> PartitionSpec:
        found = self.discover or self.reconcile or self.reverify
        assert found is not None
        return found

    @property
    def period_seconds(self) -> int:
        """Length of one tick: the interval, or one minute for cron (its granularity)."""
        return every_seconds(self.every) if self.every else 60


class ScheduleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = SITE_TIMEZONE_NAME
    schedules: dict[str, Entry] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown timezone {value!r}") from error
        return value

    @field_validator("schedules")
    @classmethod
    def _entry_names(cls, value: dict[str, Entry]) -> dict[str, Entry]:
        for name in value:
            if not _ENTRY_NAME.match(name):
                raise ValueError(f"entry name {name!r} must be lower-case letters, digits, - or _ (max 50)")
        return value


@dataclass(frozen=True)
class Schedules:
    """All entries from the configured file(s), keyed by entry name."""

    timezone: str
    entries: dict[str, Entry]
    sources: dict[str, Path]

    def get(self, name: str) -> Entry:
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "none"
            raise ConfigError(f"no schedule entry named {name!r} (known: {known})", source="schedules") from None


def cron_schedule(expression: str, timezone: str = SITE_TIMEZONE_NAME) -> crontab:
    """A Celery crontab from a 5-field cron expression (minute hour day-of-month month day-of-week), read in
    ``timezone``.

    Beat pickles its schedule into its state file, so ``nowfun`` must be picklable: a ``partial`` of
    ``datetime.now`` with a ``ZoneInfo`` (which pickles by its key), never a lambda.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r} must have 5 fields: minute hour day-of-month month day-of-week")
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month,
                       day_of_week=day_of_week, nowfun=partial(dt.datetime.now, ZoneInfo(timezone)))
    except (ValueError, KeyError) as error:
        raise ValueError(f"bad cron {expression!r}: {error}") from error


def every_seconds(text: str) -> int:
    match = _EVERY.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"bad interval {text!r}; use a number and a unit, such as 30s, 15m, 6h or 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _describe(error: ValidationError) -> tuple[str, str]:
    # An unknown key first: a misspelt key (`report_type:`) is also why the real one is reported missing.
    errors = sorted(error.errors(), key=lambda item: item["type"] != "extra_forbidden")
    first = errors[0]
    loc = [str(part) for part in first["loc"]]
    key = ".".join(loc)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
        missing = [str(item["loc"][-1]) for item in errors[1:] if item["type"] == "missing"
                   and item["loc"][:-1] == first["loc"][:-1]]
        close = difflib.get_close_matches(loc[-1], missing, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    more = len(errors) - 1
    return key, message + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def read_schedule_file(path: Path) -> ScheduleFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read: {error.strerror}", source=str(path)) from error
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML: {error}", source=str(path)) from error
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping with a `schedules:` key", source=str(path))
    _refuse_credentials(raw, path)
    try:
        return ScheduleFile.model_validate(raw)
    except ValidationError as error:
        key, message = _describe(error)
        raise ConfigError(message, source=str(path), key=key) from error


def _refuse_credentials(raw: Any, path: Path) -> None:
    """Schedules never hold secrets: refuse anything that looks like user:password@."""
    if re.search(r"://[^/\s]*:[^/\s]*@", yaml.safe_dump(raw, allow_unicode=True)):
        raise ConfigError("schedule files must not contain credentials (found scheme://user:password@)", source=str(path))


def load_schedules(location: Path) -> Schedules:
    """Read a schedule file, or every ``*.yaml``/``*.yml`` file of a folder (sorted), and merge the entries."""
    if location.is_dir():
        files = sorted([*location.glob("*.yaml"), *location.glob("*.yml")])
        if not files:
            raise ConfigError("no *.yaml schedule files in this folder", source=str(location))
    elif location.exists():
        files = [location]
    else:
        raise ConfigError("schedule file or folder does not exist (set FUNDCRAWL_SCHEDULES)", source=str(location))
    timezone: str | None = None
    entries: dict[str, Entry] = {}
    sources: dict[str, Path] = {}
    for path in files:
        parsed = read_schedule_file(path)
        if timezone is not None and parsed.timezone != timezone:
            raise ConfigError(f"timezone {parsed.timezone} differs from {timezone} in {files[0]}", source=str(path),
                              key="timezone")
        timezone = parsed.timezone
        for name, entry in parsed.schedules.items():
            if name in entries:
                raise ConfigError(f"entry also defined in {sources[name]}", source=str(path), key=f"schedules.{name}")
            entries[name], sources[name] = entry, path
    return Schedules(timezone=timezone or SITE_TIMEZONE_NAME, entries=entries, sources=sources)

