"""Log lines for operators: one line per event, text by default, JSON lines with ``FUNDCRAWL_LOG_FORMAT=json``.

Every handler carries a :class:`SecretFilter`, so no credential reaches a log line whatever the caller logs:
``scheme://user:password@`` becomes ``scheme://user:***@``, and every configured secret value (the Sentry DSN
key, the database, broker and Redis passwords) is replaced by ``***`` in its plain, URL-encoded and base64 forms.
Celery must not install its own handlers: ``crawler/celery_app.py`` connects ``celery.signals.setup_logging`` to
:func:`configure_logging`; a connected receiver makes Celery skip its own root and task-logger set-up and its
stdout redirection (``celery/app/log.py``), so these handlers are the only ones.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from celery._state import get_current_task

from crawler.settings import Settings

MASK = "***"
#: ``scheme://user:password@`` anywhere in a text; the user part is kept because it helps diagnose.
_URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<password>[^@/\s]+)@")
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_NOISY_LOGGERS = ("httpx", "httpcore", "urllib3", "kombu.pidbox", "amqp", "alembic")


def _base64_cores(secret: bytes) -> set[str]:
    """The base64 characters that only depend on ``secret``, at each of the three byte alignments.

    A secret inside a larger base64 blob (a Basic auth header, a pickled value) starts at any offset; the
    characters fully determined by its bytes are the same wherever it lands with that alignment.
    """
    cores = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + secret).decode().rstrip("=")
        start, end = -(-8 * pad // 6), 8 * (pad + len(secret)) // 6
        cores.add(encoded[start:end])
    return {core for core in cores if len(core) >= 6}


def secret_forms(secret: str) -> set[str]:
    """Every form of ``secret`` that must never be written: plain, URL-encoded and base64."""
    forms = {secret, unquote(secret), quote(secret, safe=""), quote_plus(secret, safe="")}
    if len(secret) >= 6:
        forms |= _base64_cores(unquote(secret).encode())
    return {form for form in forms if len(form) >= 3}


def secret_values(settings: Settings) -> list[str]:
    """The configured secrets: passwords of the database/broker/Redis/source URLs and the Sentry DSN key."""
    values = [urlsplit(settings.source_url).password or ""]
    for url in (settings.database_url, settings.broker_url, settings.redis_url):
        if url is not None:
            values.append(urlsplit(url.get_secret_value()).password or "")
    if settings.sentry is not None:
        dsn = urlsplit(settings.sentry)
        values += [dsn.username or "", dsn.password or ""]
    return [value for value in values if value]


class SecretMasker:
    """Masks URL credentials and known secret values in any text; cheap enough for every log line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms = sorted({form for secret in secrets for form in secret_forms(secret)}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, forms))) if forms else None

    def mask(self, text: str) -> str:
        text = _URL_CREDENTIALS.sub(rf"\g<head>:{MASK}@", text)
        return self._known.sub(MASK, text) if self._known is not None else text

    def mask_value(self, value: Any) -> Any:
        """Mask strings, and strings nested in lists, tuples and dicts; anything else is returned as is."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {key: self.mask_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.mask_value(item) for item in value)
        return value


class SecretFilter(logging.Filter):
    """Rewrites a record's message, traceback and extras with secrets masked (a handler filter, runs last)."""

    _traceback = logging.Formatter()

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        # The template stays a template: Sentry's logging integration runs after the handlers and groups (and
        # :mod:`crawler.telemetry.alerts` throttles) events by it, so the arguments are masked one by one.
        try:
            record.getMessage()
            formattable = isinstance(record.msg, str)
        except (TypeError, ValueError):
            formattable = False
        if formattable:
            record.msg, record.args = self.masker.mask(record.msg), self._mask_args(record.args)
        else:
            record.msg, record.args = self.masker.mask(_message(record)), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.masker.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.masker.mask(record.stack_info)
        for key, value in extras(record).items():
            setattr(record, key, self.masker.mask_value(value))
        return True


    def _mask_args(self, args: Any) -> Any:
        if isinstance(args, Mapping):
            return {key: self._mask_arg(value) for key, value in args.items()}
        if isinstance(args, tuple):
            return tuple(self._mask_arg(value) for value in args)
        return args

    def _mask_arg(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value  # %d and %.2f still work, and no secret is a number
        if isinstance(value, str):
            return self.masker.mask(value)
        text, shown = str(value), repr(value)
        masked = _MaskedArg(self.masker.mask(text), self.masker.mask(shown))
        return value if (masked.text, masked.shown) == (text, shown) else masked


class _MaskedArg:
    """A log argument whose ``str`` or ``repr`` carried a secret, with both masked (``%s`` and ``%r`` work)."""

    __slots__ = ("shown", "text")

    def __init__(self, text: str, shown: str) -> None:
        self.text, self.shown = text, shown

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.shown


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):
        # A wrong number of %-arguments must not crash the caller from inside a filter.
        return f"{record.msg!r} (unformattable arguments {record.args!r})"


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """Fields given through ``extra=`` (``upload_info_id``, ``partition``...), plus the running Celery task."""
    found = {key: value for key, value in record.__dict__.items() if key not in _RECORD_FIELDS}
    task = get_current_task()
    if task is not None and task.request.id is not None:
        found.setdefault("task_id", task.request.id)
        found.setdefault("task_name", task.name)
    return found


def _timestamp(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO  ForkPoolWorker-1[123] crawler.tasks: report 42 stored upload_info_id=42``."""

    def __init__(self) -> None:
        super().__init__("%(timestamp)s %(levelname)-7s %(processName)s[%(process)d] %(name)s: %(message)s%(fields)s")

    def format(self, record: logging.LogRecord) -> str:
        record.timestamp = _timestamp(record)
        found = extras(record)
        # Celery passes its message's own fields again as extra={"data": {...}}; the line already says them.
        for key in ("timestamp", "fields", "data"):
            found.pop(key, None)
        record.fields = "".join(f" {key}={value}" for key, value in found.items())
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, process, then every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "process_name": record.processName,
        }
        for key, value in extras(record).items():
            line.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def build_handler(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler with the configured format and the secret filter attached."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(SecretFilter(SecretMasker(secret_values(settings))))
    return handler


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> None:
    """Make the root logger write one masked line per record to stderr (or ``stream``), replacing its handlers."""
    handler = build_handler(settings, stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    """Uncaught errors go through the masked handlers instead of a raw traceback on stderr."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    logging.getLogger("crawler").critical("uncaught %s", kind.__name__, exc_info=(kind, error, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("crawler").critical("uncaught %s in thread %s", args.exc_type.__name__, name,
                                          exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
