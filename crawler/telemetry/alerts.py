"""Sentry: initialisation for worker, beat and CLI, scrubbing, and the alerts the daemon raises on purpose.

Celery's own failures reach Sentry through ``CeleryIntegration``; retries do not (``Retry``/``Ignore``/``Reject``
are control flow to the SDK), so a report that ends ``failed`` raises its own event through
:func:`report_failed`. ``monitor_beat_tasks=True`` turns every beat entry into a Sentry Crons monitor whose slug
is the entry name: beat sends ``in_progress``, the worker ``ok`` or ``error``. Sentry Crons cannot express
intervals under a minute, so the integration skips such entries (the reconciler); :func:`monitor_checkin` covers
them. Every helper is a no-op while Sentry is off, and sending never blocks: the SDK queues envelopes for a
background thread and drops them when the ingest is unreachable.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sentry_sdk
from celery.schedules import crontab
from celery.schedules import schedule as interval_schedule
from sentry_sdk.crons import capture_checkin
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.httpx import HttpxIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.redis import RedisIntegration
from sentry_sdk.utils import BadDsn

from crawler.settings import Settings
from crawler.telemetry.logs import SecretMasker, secret_values

log = logging.getLogger(__name__)

#: Key names (any case, ``-`` read as ``_``) whose values in an event's request, extra and user data and in a
#: breadcrumb's data are always replaced by :data:`FILTERED`: Relay's list of secret names, the usual personal
#: ones, and the names this daemon gives its URLs. Values are masked on top of that wherever they appear.
DENYLIST = frozenset([
    "password", "passwd", "secret", "api_key", "apikey", "auth", "credentials", "mysql_pwd", "privatekey",
    "private_key", "token", "session", "csrftoken", "sessionid", "x_csrftoken", "x_forwarded_for", "set_cookie",
    "cookie", "authorization", "x_api_key", "aiohttp_session", "connect.sid", "csrf_token", "csrf", "_csrf",
    "_csrf_token", "phpsessid", "_session", "symfony", "user_session", "_xsrf", "xsrf_token", "x_real_ip",
    "ip_address", "remote_addr",
    "dsn", "url", "database_url", "broker_url", "redis_url", "sentry_dsn",
])
FILTERED = "[Filtered]"
#: What the SDK collects on its own: no user, no local variables, no task arguments or SQL parameters, no HTTP
#: bodies (a report page is up to 10 MiB), no cookies.
DATA_COLLECTION = {"user_info": False, "stack_frame_variables": False, "queues": False, "database_query_data": False,
                   "http_bodies": [], "cookies": {"mode": "off"}}
#: A layout alert needs more than this many affected reports in one run: one odd page is not a site change.
LAYOUT_ALERT_MIN_REPORTS = 3
_LAYOUT_KINDS = ("unknown_sections", "cross_checks")
#: Events made from the same ERROR log message are sent at most once per this many seconds per process.
LOG_EVENT_INTERVAL = 600.0
ALERTS_LOGGER = "fundcrawl.alerts"


class _Scrub:
    """``before_send``/``before_send_check_in``/``before_breadcrumb``: masks secrets in every string, and
    replaces the values of secret-looking keys (:data:`DENYLIST`).

    It also throttles events made from ERROR log lines: during a Redis or PostgreSQL outage Celery and kombu
    log the same connection error every few seconds for as long as it lasts, and one event per
    :data:`LOG_EVENT_INTERVAL` seconds and message says as much as thousands would.
    """

    def __init__(self, masker: SecretMasker) -> None:
        self.masker = masker
        self.last_sent: dict[tuple[str, str], float] = {}

    def event(self, event: Any, hint: Any) -> Any:
        if self._repeated_log_line(event):
            return None
        for part in ("request", "extra", "user"):  # breadcrumbs were filtered as they were added
            if part in event:
                event[part] = _filtered(event[part])
        # The whole event: message, exception values, extra, tags, contexts (the dynamic sampling context
        # carries the DSN key) and breadcrumbs.
        return self.masker.mask_value(event)

    def check_in(self, check_in: Any, hint: Any) -> Any:
        return self.masker.mask_value(check_in)

    def breadcrumb(self, crumb: Any, hint: Any) -> Any:
        return self.masker.mask_value(_filtered_data(crumb))

    def _repeated_log_line(self, event: Any) -> bool:
        template = (event.get("logentry") or {}).get("message")
        if not template or event.get("logger") in (None, ALERTS_LOGGER):
            return False
        key, now = (str(event["logger"]), str(template)), time.monotonic()
        if now - self.last_sent.get(key, -LOG_EVENT_INTERVAL) < LOG_EVENT_INTERVAL:
            return True
        self.last_sent[key] = now
        return False


def _filtered(value: Any) -> Any:
    """``value`` with the value of every key of :data:`DENYLIST`, at any depth, replaced by :data:`FILTERED`."""
    if isinstance(value, dict):
        return {key: FILTERED if isinstance(key, str) and key.lower().replace("-", "_") in DENYLIST
                else _filtered(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_filtered(item) for item in value]
    return value


def _filtered_data(crumb: Any) -> Any:
    """A breadcrumb with its data filtered (see :func:`_filtered`)."""
    if isinstance(crumb, dict) and "data" in crumb:
        return {**crumb, "data": _filtered(crumb["data"])}
    return crumb


def _release() -> str:
    try:
        return f"fundcrawl@{version('fundcrawl')}"
    except PackageNotFoundError:
        return "fundcrawl@unknown"


def sentry_options(settings: Settings) -> dict[str, Any]:
    """The ``sentry_sdk.init`` keyword arguments for ``settings`` (the DSN included)."""
    from crawler.storage import sentry_integration as database_integration

    scrub = _Scrub(SecretMasker(secret_values(settings)))
    return {
        "dsn": settings.sentry,
        "environment": settings.sentry_environment,
        "release": _release(),
        "integrations": [
            # propagate_traces would put a `baggage` header with the DSN key into every task message in the
            # broker; we do not trace, and cron check-ins travel in their own sentry-monitor-* headers.
            CeleryIntegration(monitor_beat_tasks=True, propagate_traces=False),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            HttpxIntegration(),
            RedisIntegration(),
            database_integration(),
        ],
        # Only the integrations above: probing every installed library (aiohttp, ...) costs seconds at start.
        "auto_enabling_integrations": False,
        "data_collection": DATA_COLLECTION,
        "before_send": scrub.event,
        "before_send_check_in": scrub.check_in,
        "before_breadcrumb": scrub.breadcrumb,
        "max_breadcrumbs": 50,
        "shutdown_timeout": 2,
    }


def init_sentry(settings: Settings, process: str) -> bool:
    """Start Sentry in this process (``worker``, ``beat`` or ``cli``); False when no DSN is configured.

    Call it in every process that should report: the Celery ``celeryd_init``/``worker_init`` and ``beat_init``
    signals, and the CLI. Prefork children inherit the client; the SDK restarts its sender thread after fork.
    """
    if settings.sentry is None:
        log.debug("Sentry is off (no FUNDCRAWL_SENTRY_DSN) in %s", process)
        return False
    try:
        sentry_sdk.init(**sentry_options(settings))
    except BadDsn as error:
        log.error("Sentry is off: FUNDCRAWL_SENTRY_DSN is not a valid DSN (%s)", error)
        return False
    sentry_sdk.get_global_scope().set_tag("process", process)
    log.info("Sentry is on in %s (environment %s)", process, settings.sentry_environment)
    return True


def sentry_enabled() -> bool:
    return sentry_sdk.get_client().is_active()


def flush_sentry(timeout: float = 2.0) -> None:
    """Wait up to ``timeout`` seconds for queued events (the CLI before it exits; the SDK also does it atexit)."""
    if sentry_enabled():
        sentry_sdk.flush(timeout=timeout)


def _capture(message: str, level: str, fingerprint: list[str], tags: dict[str, Any],
             extra: dict[str, Any]) -> str | None:
    if not sentry_enabled():
        return None
    event: Any = {
        "message": message,
        "level": level,
        "logger": ALERTS_LOGGER,
        "fingerprint": fingerprint,
        "tags": {key: str(value) for key, value in tags.items() if value not in (None, "")},
        "extra": extra,
    }
    return sentry_sdk.capture_event(event)


def report_failed(upload_info_id: int, reason: str, fund_code: str, report_type: str,
                  page_sha256: str | None, error: str) -> str | None:
    """One event for a report that ended ``failed``, grouped by reason (one Sentry issue per reason).

    Call it once, where the report's state actually moved to ``failed`` (the compare-and-set succeeded), never
    on a retry: the same report then never raises two events even when its task ran twice.
    """
    return _capture(
        f"report {upload_info_id} failed: {reason}",
        "error",
        ["report-failed", reason],
        {"reason": reason, "upload_info_id": upload_info_id, "fund_code": fund_code,
         "report_type": report_type, "page_sha256": page_sha256},
        {"error": error},
    )


def report_corrected(correction: dict[str, Any], fund_code: str = "", report_type: str = "") -> str | None:
    """An info event for each correction seen, all in one Sentry issue per kind of correction.

    A flood (a manager correcting hundreds of reports in a day) is one issue with many events, never an alert
    per report.
    """
    kind = str(correction.get("kind", ""))
    return _capture(
        f"report {correction.get('superseded_id')} corrected by {correction.get('current_id')} ({kind})",
        "info",
        ["report-corrected", kind],
        {"correction": kind, "upload_info_id": correction.get("current_id"), "fund_code": fund_code,
         "report_type": report_type},
        dict(correction),
    )


def partition_incomplete(partition: str, detail: str) -> str | None:
    """Discovery could not converge on a partition (distinct ids never matched the site's total)."""
    return _capture(f"partition {partition} did not converge", "error", ["partition-incomplete", partition],
                    {"partition": partition}, {"detail": detail})


def breaker_opened(reason: str, seconds: float) -> str | None:
    """The circuit breaker paused crawling for the whole fleet."""
    return _capture(f"circuit breaker opened for {seconds:.0f}s: {reason}", "warning", ["breaker-opened"],
                    {"breaker_reason": reason}, {"pause_seconds": seconds})


def layout_changed(kind: str, reports: list[int], detail: str) -> str | None:
    """The site's layout may have changed: ``kind`` (unknown_sections or cross_checks) hit many reports in a run.

    The caller passes every affected report of the run; a handful is noise (one odd page), so nothing is sent
    unless more than :data:`LAYOUT_ALERT_MIN_REPORTS` are affected.
    """
    if kind not in _LAYOUT_KINDS:
        raise ValueError(f"layout kind must be one of {_LAYOUT_KINDS}, not {kind!r}")
    if len(set(reports)) <= LAYOUT_ALERT_MIN_REPORTS:
        return None
    affected = sorted(set(reports))
    return _capture(f"layout change suspected: {kind} on {len(affected)} reports", "error",
                    ["layout-changed", kind], {"layout_kind": kind},
                    {"reports": affected[:100], "report_count": len(affected), "detail": detail})


def freshness_late(upload_info_id: int, fund_code: str, send_date: dt.date | str, hours_late: float) -> str | None:
    """A report the site lists as sent at ``send_date`` is still not stored ``hours_late`` after the deadline.

    All late reports group into one Sentry issue; call it once per report (the caller remembers it alerted).
    """
    return _capture(f"report {upload_info_id} not stored {hours_late:.1f}h after its freshness deadline", "warning",
                    ["freshness-late"], {"upload_info_id": upload_info_id, "fund_code": fund_code},
                    {"send_date": str(send_date), "hours_late": round(hours_late, 2)})


def _is_auto_monitored(schedule: Any) -> bool:
    """True when CeleryIntegration already makes a monitor for this schedule (crontab, whole-minute interval)."""
    if isinstance(schedule, crontab):
        return True
    seconds = _interval_seconds(schedule)
    return seconds is not None and seconds >= 60 and seconds % 60 == 0


def _interval_seconds(schedule: Any) -> float | None:
    if isinstance(schedule, interval_schedule):
        return float(schedule.seconds)
    if isinstance(schedule, dt.timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    return None


def monitor_checkin(slug: str, status: str, schedule: Any) -> str | None:
    """Check in ``slug`` for a beat entry that CeleryIntegration cannot monitor (an interval under a minute).

    Crontab and whole-minute interval entries are monitored automatically, so for those this does nothing and
    can be called unconditionally. Shorter intervals become a one-minute interval monitor that alerts when no
    ``ok`` arrived for three minutes. ``status`` is ``ok``, ``error`` or ``in_progress``.
    """
    seconds = _interval_seconds(schedule)
    if not sentry_enabled() or seconds is None or _is_auto_monitored(schedule):
        return None
    minutes = max(1, -(-int(seconds) // 60))
    config = {"schedule": {"type": "interval", "value": minutes, "unit": "minute"}, "checkin_margin": 2,
              "max_runtime": 10, "timezone": "UTC"}
    return capture_checkin(monitor_slug=slug, status=status, monitor_config=config)  # type: ignore[arg-type]
