"""Sentry alerts and scrubbing, asserted on what a real SDK client sends to the fake ingest."""

from __future__ import annotations

import io
import logging
import socket
from pathlib import Path

import sentry_sdk

from crawler.telemetry import alerts
from crawler.telemetry.logs import configure_logging
from tests.fakes.sentry_ingest import SentryIngest
from tests.telemetry.conftest import DSN_CANARY, PG_CANARY, REDIS_CANARY, canary_settings, leaked


def _start(ingest: SentryIngest, tmp_path: Path) -> None:
    assert alerts.init_sentry(canary_settings(tmp_path, ingest.dsn), process="test")


def test_failed_report_event_is_grouped_by_reason_with_identifiers_as_tags(ingest, tmp_path):
    _start(ingest, tmp_path)
    alerts.report_failed(101, "http_404", "000001", "FB010010", "a" * 64, "404 from the site")
    alerts.report_failed(102, "http_404", "000002", "FB030010", "b" * 64, "404 from the site")
    alerts.report_failed(103, "too_large", "000003", "FB030010", None, "body over 10 MiB")
    events = ingest.wait_for(lambda r: len(r.events()) == 3 and r.events())

    first = events[0]
    assert first["level"] == "error" and first["message"] == "report 101 failed: http_404"
    assert first["tags"] == {"reason": "http_404", "upload_info_id": "101", "fund_code": "000001",
                             "report_type": "FB010010", "page_sha256": "a" * 64, "process": "test"}
    assert events[0]["fingerprint"] == events[1]["fingerprint"] == ["report-failed", "http_404"]
    assert events[2]["fingerprint"] == ["report-failed", "too_large"] and "page_sha256" not in events[2]["tags"]
    assert all(envelope["auth_ok"] for envelope in ingest.envelopes())


def test_operational_alerts_reach_sentry(ingest, tmp_path):
    _start(ingest, tmp_path)
    alerts.partition_incomplete("FB030010/2025", "site total 120, distinct ids 118 after 3 walks")
    alerts.breaker_opened("5 answers 429 within 60s", 300)
    alerts.freshness_late(555, "161725", "2026-01-20", 7.5)
    events = ingest.wait_for(lambda r: len(r.events()) == 3 and r.events())

    by_group = {event["fingerprint"][0]: event for event in events}
    assert by_group["partition-incomplete"]["tags"]["partition"] == "FB030010/2025"
    assert by_group["breaker-opened"]["extra"]["pause_seconds"] == 300
    assert by_group["freshness-late"]["tags"]["upload_info_id"] == "555"
    assert by_group["freshness-late"]["extra"]["send_date"] == "2026-01-20"


def test_layout_alert_needs_more_than_a_few_reports(ingest, tmp_path):
    _start(ingest, tmp_path)
    assert alerts.layout_changed("unknown_sections", [1, 2, 3], "§9 heading not recognised") is None
    assert alerts.layout_changed("cross_checks", [5, 6, 7, 8, 9], "NAV sum differs") is not None
    event = ingest.wait_for(lambda r: r.events())[0]
    assert event["fingerprint"] == ["layout-changed", "cross_checks"]
    assert event["extra"]["reports"] == [5, 6, 7, 8, 9]
    sentry_sdk.flush(timeout=2)
    assert len(ingest.events()) == 1


def _fail_with_secrets_in_locals(dsn: str, broker_url: str) -> None:
    password = PG_CANARY  # noqa: F841 - a local the event must not carry
    raise ConnectionError(f"cannot reach {broker_url} (alerts to {dsn})")


def test_no_canary_leaves_in_events_breadcrumbs_or_envelope_headers(ingest, tmp_path):
    settings = canary_settings(tmp_path, ingest.dsn)
    _start(ingest, tmp_path)
    logging.getLogger("crawler.test").setLevel(logging.INFO)
    logging.getLogger("crawler.test").info("connecting to %s", settings.database)
    sentry_sdk.add_breadcrumb(category="test", message="signed in", data={"X-Api-Key": "abc", "rows": 3})
    try:
        _fail_with_secrets_in_locals(settings.sentry or "", settings.broker)
    except ConnectionError:
        sentry_sdk.set_extra("broker_url", settings.broker)
        sentry_sdk.set_extra("note", f"redis password {REDIS_CANARY}")
        sentry_sdk.capture_exception()
    alerts.report_failed(7, "schema", "000007", "FB010010", None, f"db {settings.database}")
    ingest.wait_for(lambda r: len(r.events()) == 2)

    assert not [form for body in ingest.bodies() for form in leaked(body)]
    crash = next(event for event in ingest.events() if "exception" in event)
    assert crash["exception"]["values"][0]["value"] == (
        "cannot reach redis://:***@127.0.0.1:6379/9 (alerts to http://***@127.0.0.1:"
        f"{ingest.url.rsplit(':', 1)[1]}/1)")
    assert all("vars" not in frame for frame in crash["exception"]["values"][0]["stacktrace"]["frames"])
    assert crash["extra"]["broker_url"] == "[Filtered]"
    crumbs = crash["breadcrumbs"]["values"]
    assert crumbs[-2]["message"] == "connecting to postgresql://fundcrawl:***@127.0.0.1:5432/fundcrawl"
    assert crumbs[-1]["data"] == {"X-Api-Key": "[Filtered]", "rows": 3}
    assert DSN_CANARY not in str(ingest.envelopes()[0]["headers"])


def test_helpers_do_nothing_while_sentry_is_off(ingest, tmp_path):
    assert not alerts.init_sentry(canary_settings(tmp_path, None), process="test")
    assert alerts.report_failed(1, "http_404", "000001", "FB010010", None, "gone") is None
    assert alerts.breaker_opened("429", 60) is None
    assert ingest.envelopes() == []


def test_unreachable_or_failing_ingest_never_stops_the_caller(tmp_path):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        alerts.init_sentry(canary_settings(tmp_path, f"http://{DSN_CANARY}@127.0.0.1:"
                                                  f"{silent.getsockname()[1]}/1"), process="test")
        ids = [alerts.report_failed(n, "http_404", "1", "FB010010", None, "x") for n in range(200)]
        alerts.flush_sentry(timeout=0.5)
    assert all(ids[:5])
    with SentryIngest(key=DSN_CANARY) as failing:
        failing.fail_with(503)
        alerts.init_sentry(canary_settings(tmp_path, failing.dsn), process="test")
        assert alerts.breaker_opened("429", 60) is not None
        alerts.flush_sentry(timeout=2)
        assert failing.envelopes() == []


def test_a_bad_dsn_turns_sentry_off_instead_of_crashing(tmp_path):
    assert not alerts.init_sentry(canary_settings(tmp_path, "not a dsn"), process="worker")
    assert alerts.report_failed(1, "http_404", "1", "FB010010", None, "x") is None


def test_manual_checkins_only_for_schedules_sentry_cannot_monitor(ingest, tmp_path):
    import datetime as dt

    from celery.schedules import crontab

    _start(ingest, tmp_path)
    assert alerts.monitor_checkin("nightly-reconcile", "ok", crontab(minute="30", hour="3")) is None
    assert alerts.monitor_checkin("hourly", "ok", dt.timedelta(hours=1)) is None
    assert alerts.monitor_checkin("fundcrawl-reconcile", "error", dt.timedelta(seconds=30)) is not None
    check = ingest.wait_for(lambda r: r.check_ins())[0]
    assert check["monitor_slug"] == "fundcrawl-reconcile" and check["status"] == "error"
    assert check["monitor_config"]["schedule"] == {"type": "interval", "value": 1, "unit": "minute"}
    sentry_sdk.flush(timeout=2)
    assert len(ingest.check_ins()) == 1


def test_a_repeating_error_log_line_raises_one_event_not_a_flood(ingest, tmp_path, restore_root):
    # Logging configured as in every daemon process: its secret filter runs before Sentry sees the record.
    configure_logging(canary_settings(tmp_path, ingest.dsn), stream=io.StringIO())
    _start(ingest, tmp_path)
    log = logging.getLogger("kombu.connection")
    broker = f"redis://:{REDIS_CANARY}@127.0.0.1:6379/0"
    for attempt in range(20):
        log.error("Cannot connect to %s: Authentication required (attempt %s)", broker, attempt)
    log.error("Another problem entirely")
    alerts.report_failed(9, "http_404", "000009", "FB010010", None, "gone")
    alerts.report_failed(10, "http_404", "000010", "FB010010", None, "gone")
    ingest.wait_for(lambda r: len(r.events()) >= 4)
    sentry_sdk.flush(timeout=2)

    messages = sorted(event.get("logentry", {}).get("message") or event["message"] for event in ingest.events())
    assert messages == ["Another problem entirely", "Cannot connect to %s: Authentication required (attempt %s)",
                        "report 10 failed: http_404", "report 9 failed: http_404"]
    assert not [form for body in ingest.bodies() for form in leaked(body)]


def test_task_messages_in_the_broker_do_not_carry_the_dsn_key(ingest, tmp_path):
    import json

    from celery import Celery
    from celery.signals import before_task_publish

    _start(ingest, tmp_path)
    app = Celery("probe", broker="memory://", set_as_current=False)

    @app.task(name="probe.noop")
    def noop() -> None:
        return None

    published: list[str] = []

    def remember(headers: object = None, **_: object) -> None:
        published.append(json.dumps(headers, default=str))

    before_task_publish.connect(remember, weak=False)
    try:
        noop.apply_async(headers={"sentry-monitor-slug": "probe"})
    finally:
        before_task_publish.disconnect(remember)
    assert published and "sentry-monitor-slug" in published[0]
    assert leaked(published[0]) == []
