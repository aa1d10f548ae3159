"""Every log line is one JSON object; aiohttp's records of malformed requests keep no secrets."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from test_serve import ADMIN_PASSWORD, ServiceProcess

from service import logs
from service.tokens.keys import KeyRing

ROOT = Path(__file__).resolve().parents[1]
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _record(msg: Any, *args: Any, exc: BaseException | None = None, **kw: Any) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(
        kw.get("name", "t"), kw.get("level", logging.INFO), __file__, 1, msg, args, exc_info
    )


def assert_json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` is one JSON object with the four base fields; returns them."""
    docs = []
    for line in text.splitlines():
        doc = json.loads(line)
        assert isinstance(doc, dict), line
        assert list(doc)[:4] == list(logs.BASE_FIELDS), line
        assert RFC3339_UTC.match(doc["time"]), line
        assert doc["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, line
        docs.append(doc)
    return docs


def test_a_record_is_one_json_line_with_time_level_logger_and_message() -> None:
    record = _record("hello %s\nworld", "there", name="service.x", level=logging.WARNING)
    record.created = 1767607200.1239
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-01-05T10:00:00.123Z",
        "level": "WARNING",
        "logger": "service.x",
        "message": "hello there\nworld",
    }


def test_an_access_record_adds_its_fields_and_a_summary_message() -> None:
    fields = {"method": "GET", "route": "/healthz", "status": 200, "subject": None}
    doc = json.loads(logs.JsonFormatter().format(_record(fields)))
    assert doc["message"] == "GET /healthz 200"
    assert {k: doc[k] for k in fields} == fields


def test_an_error_keeps_its_traceback_inside_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError as e:
        line = logs.JsonFormatter().format(_record("failed", exc=e, level=logging.ERROR))
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["exception"] == "ValueError: boom"
    assert doc["traceback"].startswith("Traceback (most recent call last)")


def test_unencodable_text_still_makes_a_line() -> None:
    doc = json.loads(logs.JsonFormatter().format(_record("lone \udc80 surrogate %d", 2**70)))
    assert "surrogate" in doc["message"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SECRET = "Bearer SECRET-TOKEN-VALUE"


def _malformed(secret: str = SECRET) -> logging.LogRecord:
    try:
        raise BadHttpMessage(f"Invalid header value char:\n\n  b'Authorization: {secret}\\x01'")
    except BadHttpMessage as e:
        return _record(
            "Error handling request from %s",
            "10.1.2.3",
            exc=e,
            name=logs.AIOHTTP_SERVER,
            level=logging.ERROR,
        )


def test_a_malformed_request_record_becomes_a_warning_without_its_bytes() -> None:
    record = _malformed()
    assert logs.MalformedHttp(clock=Clock()).filter(record)
    line = logs.JsonFormatter().format(record)
    assert SECRET not in line and "SECRET" not in line and "Traceback" not in line
    doc = json.loads(line)
    assert doc["level"] == "WARNING"
    assert doc["message"] == "malformed HTTP request refused with 400: BadHttpMessage"
    assert doc["peer"] == "10.1.2.3" and doc["status"] == 400


def test_malformed_request_records_are_rate_limited() -> None:
    clock = Clock()
    f = logs.MalformedHttp(burst=3, period=10.0, clock=clock)
    assert [f.filter(_malformed()) for _ in range(5)] == [True, True, True, False, False]
    clock.now += 10.0
    kept = _malformed()
    assert f.filter(kept)
    assert kept.fields == {"peer": "10.1.2.3", "status": 400, "suppressed_before": 2}  # type: ignore[attr-defined]
    # Other records of aiohttp's logger pass untouched.
    other = _record("Unhandled exception", exc=RuntimeError("x"), name=logs.AIOHTTP_SERVER)
    assert f.filter(other) and other.exc_info is not None


def test_configure_sends_every_logger_through_the_json_formatter() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, sys.excepthook, threading.excepthook)
    try:
        logs.configure("info", stream)
        logging.getLogger("service.access").info({"method": "GET", "route": "/x", "status": 1})
        logging.getLogger("anything").warning("w")
        try:
            raise LineTooLong("Authorization: " + SECRET, "8190")
        except LineTooLong as e:
            logging.getLogger(logs.AIOHTTP_SERVER).exception("Error handling request", exc_info=e)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a python warning", UserWarning, stacklevel=1)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        sys.excepthook = saved[2]
        threading.excepthook = saved[3]
        logging.captureWarnings(False)
    docs = assert_json_lines(stream.getvalue())
    assert [d["logger"] for d in docs] == [
        "service.access",
        "anything",
        logs.AIOHTTP_SERVER,
        "py.warnings",
    ]
    assert "SECRET" not in stream.getvalue()


def test_an_uncaught_exception_is_a_json_line() -> None:
    code = "from service import logs; logs.configure(); raise ValueError('uncaught here')"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 1
    (doc,) = assert_json_lines(out.stderr)
    assert doc["level"] == "CRITICAL" and doc["exception"] == "ValueError: uncaught here"


def test_a_bad_setting_at_start_is_one_json_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEN_SERVICE_")}
    env["TOKEN_SERVICE_SERVER_KEEPALIVE_TIMEOUT"] = "0"
    out = subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2
    (doc,) = assert_json_lines(out.stderr)
    assert doc["level"] == "ERROR" and "server.keepalive_timeout" in doc["message"]


def _readme_log_example() -> dict[str, Any]:
    readme = (ROOT / "README.md").read_text()
    logs_section = readme.split("### Logs\n", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```json\n(.*?)\n```", logs_section, re.DOTALL)
    assert block, "the README's Logs section has no JSON example"
    example: dict[str, Any] = json.loads(block.group(1))
    return example


def test_the_readme_example_is_what_the_service_writes() -> None:
    example = _readme_log_example()
    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    with ServiceProcess() as svc:
        request = urllib.request.Request(
            svc.url + "/api/v3/onezone/user",
            headers={"Authorization": "Basic " + basic, "X-Request-Id": "readme-1"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
        assert svc.stop() == 0
        text = svc.log()
    docs = assert_json_lines(text)
    (access,) = [d for d in docs if d.get("request_id") == "readme-1"]
    assert list(access) == list(example)
    assert {k: type(v) for k, v in access.items()} == {k: type(v) for k, v in example.items()}
    assert access["message"] == f"{access['method']} {access['route']} {access['status']}"
    assert example["message"] == f"{example['method']} {example['route']} {example['status']}"
    assert RFC3339_UTC.match(example["time"])
    assert example["logger"] == access["logger"] == "service.access"
    assert re.fullmatch(r"[0-9a-f]{32}", access["subject"])


def test_every_line_is_json_with_several_workers(redis_url: str) -> None:
    env = {"TOKEN_SERVICE_REDIS_URL": redis_url, "TOKEN_SERVICE_SERVER_LOG_LEVEL": "info"}
    with ServiceProcess("--workers", "2", env=env) as svc:
        # Both workers up before SIGTERM: one still importing would die of the signal.
        deadline = time.monotonic() + 30
        while svc.log().count("listening") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(20):
            request = urllib.request.Request(svc.url + "/healthz", headers={"Connection": "close"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert resp.status == 200
        assert svc.stop() == 0
        text = svc.log()
    docs = assert_json_lines(text)
    messages = [d["message"] for d in docs]
    assert any(m.startswith("serving on") for m in messages)
    assert sum(1 for m in messages if m == "stopped") == 2
    assert sum(1 for d in docs if d.get("route") == "/healthz") == 20


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o604, 0o644, 0o660])
def test_a_keys_file_open_to_group_or_others_is_warned_about(tmp_path: Path, mode: int) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [KeyRing.generate_entry("k1", "active")]}))
    keys.chmod(mode)
    with ServiceProcess(env={"TOKEN_SERVICE_KEYS_FILE": str(keys)}) as svc:
        assert svc.stop() == 0
        text = svc.log()
    docs = assert_json_lines(text)
    warned = [d for d in docs if d["level"] == "WARNING" and "keys.file" in d["message"]]
    assert bool(warned) == bool(mode & 0o077), docs
    secret = json.loads(keys.read_text())["keys"][0]["secret"]
    assert secret not in text
