"""Connection timeouts from the settings, and no software versions in `Server`, on a real process."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from aiohttp import web, web_response
from aiohttp.test_utils import TestClient, TestServer
from test_serve import ServiceProcess

from service import settings as settings_mod
from service.settings import SettingsError
from service.web import serving

KEEPALIVE = 1.0
BODY = 1.0
# Scheduling on a loaded two-core machine.
SLACK = 1.5


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    env = {
        "TOKEN_SERVICE_SERVER_KEEPALIVE_TIMEOUT": str(KEEPALIVE),
        "TOKEN_SERVICE_SERVER_BODY_TIMEOUT": str(BODY),
    }
    with ServiceProcess(env=env) as svc:
        yield svc


def _connect(svc: ServiceProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", svc.port), timeout=30)


def _read_until_closed(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def _exchange(svc: ServiceProcess, request: bytes) -> bytes:
    with _connect(svc) as s:
        s.sendall(request)
        return _read_until_closed(s)


def _headers(response: bytes) -> dict[str, str]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head)}


# Server ----------------------------------------------------------------------


def test_the_adapter_still_changes_what_aiohttp_sends() -> None:
    # Fails loudly when aiohttp renames the value it puts in `Server`.
    serving.hide_server_software()
    assert web_response.SERVER_SOFTWARE == serving.SERVER_NAME


async def test_a_bare_aiohttp_app_says_token_service_after_the_adapter_ran() -> None:
    serving.hide_server_software()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/", hello)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/")
        assert resp.headers["Server"] == "token-service"


def test_the_adapter_refuses_to_guess_when_aiohttp_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(web_response, "SERVER_SOFTWARE")
    with pytest.raises(RuntimeError, match="SERVER_SOFTWARE"):
        serving.hide_server_software()


CLOSE = b"Host: x\r\nConnection: close\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\n" + CLOSE + b"\r\n",
        b"GET /nowhere HTTP/1.1\r\n" + CLOSE + b"\r\n",
        b"DELETE /healthz HTTP/1.1\r\n" + CLOSE + b"\r\n",
        b"GET /api/v3/onezone/user HTTP/1.1\r\n" + CLOSE + b"\r\n",
        b"GET /api/web/namespaces HTTP/1.1\r\n" + CLOSE + b"\r\n",
        # aiohttp's own 400s: its parser refuses these before any middleware runs.
        b"GET /healthz HTTP/1.1\r\n" + CLOSE + b"Authorization: Bearer a\x01b\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n" + CLOSE + b"\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
def test_no_response_names_aiohttp_or_python(service: ServiceProcess, request_bytes: bytes) -> None:
    response = _exchange(service, request_bytes)
    headers = _headers(response)
    assert headers["server"] == "token-service", response[:300]
    head = response.split(b"\r\n\r\n", 1)[0].lower()
    assert b"aiohttp" not in head and b"python" not in head


# Timeouts --------------------------------------------------------------------


def _closed_after(s: socket.socket, started: float, trickle: bytes = b"") -> float:
    """Seconds from `started` until the peer closes `s`, sending `trickle` every 0.2 s."""
    s.settimeout(0.2)
    while time.monotonic() - started < 30:
        try:
            if not s.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            if trickle:
                try:
                    s.sendall(trickle)
                except OSError:
                    return time.monotonic() - started
        except OSError:
            return time.monotonic() - started
    raise AssertionError("the connection stayed open for 30 s")


@pytest.mark.parametrize("trickle", [b"", b"a"])
def test_a_half_sent_head_is_closed_within_keepalive_timeout(
    service: ServiceProcess, trickle: bytes
) -> None:
    with _connect(service) as s:
        started = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        took = _closed_after(s, started, trickle)
    # Closed by the timer, not by anything the client did: never before it.
    assert KEEPALIVE - 0.1 <= took <= KEEPALIVE + SLACK


def test_an_idle_connection_after_a_response_is_closed_within_keepalive_timeout(
    service: ServiceProcess,
) -> None:
    with _connect(service) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        took = _closed_after(s, time.monotonic())
    assert took <= KEEPALIVE + SLACK


@pytest.mark.parametrize(
    ("path", "dialect"),
    [("/api/v3/onezone/tokens/examine", "onezone"), ("/api/web/namespaces", "f5")],
)
def test_a_half_sent_body_gets_408_within_body_timeout(
    service: ServiceProcess, path: str, dialect: str
) -> None:
    with _connect(service) as s:
        started = time.monotonic()
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{".encode()
        )
        s.settimeout(BODY + SLACK + 5)
        response = s.recv(65536)
        answered = time.monotonic() - started
        closed = _closed_after(s, started)
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    if dialect == "onezone":
        assert body["error"]["id"] == "badMessage"
    else:
        assert isinstance(body, str)
    assert BODY - 0.1 <= answered <= BODY + SLACK
    # The unread rest is drained for at most as long again.
    assert closed <= 2 * BODY + SLACK


def test_the_defaults_suit_a_sidecar() -> None:
    server = settings_mod.load(environ={}).server
    assert server.keepalive_timeout == 5.0 and server.body_timeout == 5.0
    args = serving.handler_args(server)
    assert args["keepalive_timeout"] == 5.0 and args["access_log"] is None


@pytest.mark.parametrize("key", ["KEEPALIVE_TIMEOUT", "BODY_TIMEOUT"])
@pytest.mark.parametrize("value", ["0", "-1", "3601", "soon"])
def test_timeouts_out_of_range_stop_the_start(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key.lower()):
        settings_mod.load(environ={f"TOKEN_SERVICE_SERVER_{key}": value})
