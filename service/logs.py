"""Logging: every line one JSON object, and malformed HTTP logged briefly, without what it held.

A line is `{"time", "level", "logger", "message", ...}`: `time` in RFC 3339,
UTC, with milliseconds; an access line adds its fields (`method`, `route`,
`status`, ...); an error adds `exception` and `traceback`, as JSON strings.
A log shipper reads it with no parser of its own.

aiohttp logs a request its HTTP parser refuses at ERROR, with a traceback
whose text quotes the offending line: a bad `Authorization` header puts the
token or the Basic credentials in the log. `MalformedHttp` rewrites those
records: one WARNING per refused request (aiohttp closes the connection after
it) naming the error class only, and at most `burst` of them per `period`.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

import orjson
from aiohttp.http import HttpProcessingError

# aiohttp's logger for everything about connections and parsing.
AIOHTTP_SERVER = "aiohttp.server"
# Fields of every line, in this order.
BASE_FIELDS = ("time", "level", "logger", "message")
MALFORMED_BURST = 10
MALFORMED_PERIOD = 10.0


_second: list[tuple[int, str]] = [(-1, "")]


def rfc3339(created: float) -> str:
    """`created` (seconds since the epoch) as an RFC 3339 UTC time with milliseconds."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    # Lines come in bursts within one second: format its date and time once.
    last, text = _second[0]
    if last != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second[0] = (seconds, text)
    return f"{text}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; a dict as the message (the access log) adds its fields."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.msg
        doc: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
        }
        if type(msg) is dict and not record.args:
            doc["message"] = f"{msg.get('method')} {msg.get('route')} {msg.get('status')}"
            doc.update(msg)
        else:
            doc["message"] = record.getMessage()
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["exception"] = f"{type(exc).__name__}: {exc}"
            doc["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["traceback"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(doc, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):  # a lone surrogate, a huge integer
            return json.dumps(doc, default=str, separators=(",", ":"))


class MalformedHttp(logging.Filter):
    """Rewrites aiohttp's records of requests its parser refused: a WARNING naming the error's
    class, without the request's bytes or a traceback; drops them past `burst` per `period`."""

    def __init__(
        self,
        burst: int = MALFORMED_BURST,
        period: float = MALFORMED_PERIOD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._burst = burst
        self._period = period
        self._clock = clock
        self._window = -period
        self._count = 0
        self._suppressed = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        with self._lock:
            now = self._clock()
            if now - self._window >= self._period:
                self._window = now
                self._count = 0
            if self._count >= self._burst:
                self._suppressed += 1
                return False
            self._count += 1
            suppressed, self._suppressed = self._suppressed, 0
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        record.msg = "malformed HTTP request refused with %d: %s"
        record.args = (exc.code, type(exc).__name__)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        fields: dict[str, Any] = {"peer": str(peer), "status": exc.code}
        if suppressed:
            fields["suppressed_before"] = suppressed
        record.fields = fields  # read by JsonFormatter
        return True


_installed: list[tuple[logging.Logger, logging.Filter]] = []


def configure(level: str = "info", stream: TextIO | None = None) -> None:
    """Send every record (warnings and uncaught exceptions too) to `stream` as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # The request log once had a handler of its own; every logger now goes through the root.
    access = logging.getLogger("service.access")
    for old in list(access.handlers):
        access.removeHandler(old)
    access.propagate = True
    server = logging.getLogger(AIOHTTP_SERVER)
    for owner, old_filter in _installed:
        owner.removeFilter(old_filter)
    _installed.clear()
    malformed = MalformedHttp()
    server.addFilter(malformed)
    _installed.append((server, malformed))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("service").critical("uncaught exception", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    logging.getLogger("service").critical(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
