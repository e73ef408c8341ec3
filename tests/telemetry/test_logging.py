"""Log lines: one per event with identifiers, text or JSON, and never a secret in any form."""

from __future__ import annotations

import base64
import io
import json
import logging

from crawler.settings import Settings, load_settings
from crawler.telemetry.logs import configure_logging
from tests.telemetry.conftest import DSN_CANARY, PG_CANARY, REDIS_CANARY, canary_settings, leaked

DSN = f"http://{DSN_CANARY}@127.0.0.1:9/1"


def _configure(settings: Settings) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    return stream


def test_json_lines_carry_level_logger_process_and_extras(tmp_path, restore_root, monkeypatch):
    monkeypatch.setenv("FUNDCRAWL_LOG_FORMAT", "json")
    stream = _configure(load_settings(data_dir=tmp_path))
    logging.getLogger("crawler.processing").info("report %s stored", 42, extra={"upload_info_id": 42, "fund_code": "000001"})
    logging.getLogger("crawler.processing").debug("not shown at INFO")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["message"] == "report 42 stored" and line["level"] == "INFO" and line["logger"] == "crawler.processing"
    assert line["upload_info_id"] == 42 and line["fund_code"] == "000001"
    assert isinstance(line["process"], int) and line["timestamp"].endswith("Z")


def test_text_lines_are_one_line_per_event_with_identifiers(tmp_path, restore_root):
    stream = _configure(Settings(data_dir=tmp_path, log_level="DEBUG"))
    logging.getLogger("crawler.discovery").debug("partition %s walked", "FB030010/2025", extra={"pages": 7})
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert " DEBUG " in line and "crawler.discovery: partition FB030010/2025 walked pages=7" in line


def test_no_secret_reaches_a_log_line_in_any_form(tmp_path, restore_root):
    for log_format in ("text", "json"):
        settings = canary_settings(tmp_path, DSN, log_format=log_format)
        stream = _configure(settings)
        log = logging.getLogger("crawler.test")
        log.warning("database %s, broker %s, alerts %s", settings.database, settings.broker, DSN)
        log.warning("raw values %s %s %s", PG_CANARY, REDIS_CANARY, DSN_CANARY)
        basic = base64.b64encode(f"fundcrawl:{PG_CANARY}".encode()).decode()
        log.warning("Authorization: Basic %s", basic, extra={"url": settings.broker, "nested": [settings.database]})
        try:
            raise ConnectionError(f"could not connect to {settings.database}")
        except ConnectionError:
            log.exception("start-up failed")

        output = stream.getvalue()
        assert leaked(output) == []
        assert "postgresql://fundcrawl:***@127.0.0.1:5432/fundcrawl" in output
        assert "redis://:***@127.0.0.1:6379/9" in output and "http://***@127.0.0.1:9/1" in output
        assert "ConnectionError: could not connect to postgresql://fundcrawl:***@" in output


def test_url_credentials_are_masked_even_when_not_configured(tmp_path, restore_root):
    stream = _configure(Settings(data_dir=tmp_path))
    logging.getLogger("crawler.test").error("proxy amqp://guest:hunter2@mq:5672// refused")
    assert "amqp://guest:***@mq:5672//" in stream.getvalue() and "hunter2" not in stream.getvalue()


def test_a_bad_log_call_does_not_crash_the_caller(tmp_path, restore_root):
    stream = _configure(Settings(data_dir=tmp_path))
    logging.getLogger("crawler.test").warning("report %s failed: %s", 42)  # noqa: PLE1206 - the point
    assert "unformattable arguments (42,)" in stream.getvalue()


def test_uncaught_errors_are_logged_masked(tmp_path, restore_root, monkeypatch):
    import sys
    import threading

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    settings = canary_settings(tmp_path, DSN)
    stream = _configure(settings)
    try:
        raise RuntimeError(f"engine {settings.database}")
    except RuntimeError as error:
        sys.excepthook(RuntimeError, error, error.__traceback__)

    def crash() -> None:
        raise ConnectionError(f"broker {settings.broker}")

    thread = threading.Thread(target=crash, name="metrics-server")
    thread.start()
    thread.join()
    output = stream.getvalue()
    assert "CRITICAL" in output and "RuntimeError: engine postgresql://fundcrawl:***@" in output
    assert "uncaught ConnectionError in thread metrics-server" in output and "broker redis://:***@" in output
    assert leaked(output) == []



def test_arguments_are_masked_one_by_one_and_keep_their_format(tmp_path, restore_root):
    class Endpoint:
        def __init__(self, url: str) -> None:
            self.url = url

        def __repr__(self) -> str:
            return f"Endpoint({self.url!r})"

    settings = canary_settings(tmp_path, DSN)
    stream = _configure(settings)
    log = logging.getLogger("crawler.test")
    log.warning("endpoint %r, %d retries, %.1f s", Endpoint(f"redis://:{REDIS_CANARY}@cache:6379/0"), 3, 2.5)
    log.warning("broker %(url)s after %(tries)d tries", {"url": f"redis://:{REDIS_CANARY}@cache:6379/0", "tries": 4})
    output = stream.getvalue()
    assert "endpoint Endpoint('redis://:***@cache:6379/0'), 3 retries, 2.5 s" in output
    assert "broker redis://:***@cache:6379/0 after 4 tries" in output
    assert leaked(output) == []
