"""Malformed HTTP on the wire, against a real service process on a real Redis: no 5xx, one JSON
WARNING at most per refused request, and no token, password or key in the log.

Every kind of malformed request a client can send (control, NUL and non-UTF-8
bytes in the headers that carry credentials, obs-fold, overlong headers and
request lines, broken chunked framing, bad Content-Length...) goes through a
raw socket with real credentials in it; then the captured log is searched for
each secret, whole and in parts.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fuzz_strategies import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import (
    API,
    HOST,
    ServiceProcess,
    figure,
    keys_json,
    new_key,
    service_env,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"),
    pytest.mark.timeout(300),
]

# Bytes a header value must not hold (RFC 9110 5.5): controls but tab, DEL; and non-UTF-8.
BAD_BYTES = [bytes([b]) for b in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F)] + [
    b"\x80",
    b"\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
]
CREDENTIAL_HEADERS = ["Authorization", "X-Auth-Token", "Cookie", "X-F5-Api-Token"]


@dataclass
class Wire:
    """The running service, its secrets, and what the fuzz saw."""

    service: ServiceProcess
    secrets: dict[str, str]
    token: str
    basic: str
    cases: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def send(self, request: bytes) -> bytes:
        """One request on its own connection; everything the server sent until it closed."""
        self.cases += 1
        # No half-close after sending: asyncio closes a connection at its EOF, before the
        # server's answer is written. Read until the server closes, or goes quiet once it
        # answered (a keep-alive response to what was still a valid request).
        with socket.create_connection((HOST, self.service.port), timeout=10) as s:
            with contextlib.suppress(OSError):
                s.sendall(request)
            out = b""
            deadline = time.monotonic() + 15
            with contextlib.suppress(OSError):
                while time.monotonic() < deadline:
                    s.settimeout(1.0 if out else 10.0)
                    try:
                        chunk = s.recv(65536)
                    except TimeoutError:
                        if out:
                            break
                        continue
                    if not chunk:
                        break
                    out += chunk
        status = out.split(b" ", 2)[1].decode() if out.startswith(b"HTTP/") else "none"
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert not status.startswith("5"), (request[:200], out[:300])
        return out


def _mint(port: int, basic: str) -> str:
    body = json.dumps({"name": "wire"}).encode()
    request = (
        f"POST {API}/user/tokens/named HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Basic {basic}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((HOST, port), timeout=30) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    assert out.startswith(b"HTTP/1.1 201"), out[:300]
    token: str = json.loads(out.split(b"\r\n\r\n", 1)[1])["token"]
    return token


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory, redis_server: object) -> Iterator[Wire]:
    redis_server.flush()  # type: ignore[attr-defined]
    key = new_key("k1")
    password = "adm-" + secrets.token_urlsafe(18)
    log = tmp_path_factory.mktemp("wire") / "service.log"
    env = service_env(
        redis_server.url,  # type: ignore[attr-defined]
        keys_json(key),
        password,
        TOKEN_SERVICE_SERVER_LOG_LEVEL="debug",
        TOKEN_SERVICE_CACHE_SIZE="1000",
    )
    proc = ServiceProcess(env, log)
    proc.start()
    try:
        proc.wait_ready_sync()
        basic = base64.b64encode(f"admin:{password}".encode()).decode()
        token = _mint(proc.port, basic)
        found = {
            "token": token,
            "admin password": password,
            "Basic credentials (base64)": basic,
            "signing key (base64)": key["secret"],
            "signing key (hex)": base64.b64decode(key["secret"]).hex(),
        }
        state = Wire(proc, found, token, basic)
        started = time.monotonic()
        yield state
        elapsed = time.monotonic() - started
    finally:
        proc.close()
    text = log.read_text(encoding="utf-8", errors="replace")
    lines = [json.loads(line) for line in text.splitlines()]
    leaks = []
    for name, value in found.items():
        # Whole, and any 12-character part: a log that cuts a value must not hold it either.
        parts = {value} | {value[i : i + 12] for i in range(0, max(1, len(value) - 12), 6)}
        leaks += [name for part in parts if part in text][:1]
    assert not leaks, leaks
    assert "Traceback" not in text, text[-3000:]
    assert not [d for d in lines if d["level"] in {"ERROR", "CRITICAL"}], text[-3000:]
    refused = [d for d in lines if d["logger"] == "aiohttp.server"]
    assert all(d["level"] == "WARNING" for d in refused), refused[:3]
    # At most 10 per 10 seconds, whatever was sent.
    assert len(refused) <= 10 * (elapsed // 10 + 2), (len(refused), elapsed)
    figure("wire", "malformed requests sent through raw sockets", state.cases)
    figure("wire", "statuses", json.dumps(dict(sorted(state.statuses.items()))))
    figure("wire", "seconds", round(elapsed, 1), "s")
    figure("wire", "aiohttp.server log lines (WARNING, rate-limited)", len(refused))
    figure("wire", "secrets searched for in the log (whole and in 12-char parts)", len(found))


def _credential(wire: Wire, header: str) -> bytes:
    if header == "Authorization":
        return f"Basic {wire.basic}".encode()
    if header == "Cookie":
        return f"session={wire.token}".encode()
    return wire.token.encode()


def _get(path: str, *headers: bytes) -> bytes:
    return (
        b"GET "
        + path.encode()
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"".join(headers)
        + b"\r\n"
    )


def _every_kind(wire: Wire) -> dict[str, bytes]:
    """One request of every kind of malformation, each carrying a credential."""
    auth = b"Authorization: Bearer " + wire.token.encode() + b"\r\n"
    basic = b"Authorization: Basic " + wire.basic.encode() + b"\r\n"
    path = f"{API}/user"
    examine = f"POST {API}/tokens/examine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
    examine += basic
    json_ct = b"Content-Type: application/json\r\n"
    kinds: dict[str, bytes] = {}
    for header in CREDENTIAL_HEADERS:
        value = _credential(wire, header)
        for bad in (b"\x00", b"\x01", b"\x1b", b"\x7f", b"\xff", b"\r", b"\n"):
            middle = len(value) // 2
            line = header.encode() + b": " + value[:middle] + bad + value[middle:] + b"\r\n"
            kinds[f"{header} with {bad!r}"] = _get(path, line)
        kinds[f"{header} folded (obs-fold)"] = _get(
            path, header.encode() + b": " + value[:10] + b"\r\n " + value[10:] + b"\r\n"
        )
        kinds[f"{header} overlong"] = _get(
            path, header.encode() + b": " + value + b"A" * 9000 + b"\r\n"
        )
        kinds[f"{header} with a space before the colon"] = _get(
            path, header.encode() + b" : " + value + b"\r\n"
        )
    kinds.update(
        {
            "NUL in the request line": b"GET /a\x00" + wire.token.encode() + b" HTTP/1.1\r\n"
            b"Host: x\r\n" + basic + b"\r\n",
            "control byte in the path": b"GET /x\x01 HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
            "bad method": b"G\x01T / HTTP/1.1\r\nHost: x\r\n" + basic + b"\r\n",
            "bad version": b"GET / HTTP/9.9\r\nHost: x\r\n" + basic + b"\r\n",
            "no version": b"GET /\r\n" + basic + b"\r\n",
            "overlong request line": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + basic + b"\r\n",
            "token in an overlong path": b"GET /auth/check/"
            + wire.token.encode() * 40
            + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            "header without a colon": _get(path, basic, b"Bearer " + wire.token.encode() + b"\r\n"),
            "too many headers": _get(path, basic, *(b"X-%d: 1\r\n" % i for i in range(200))),
            "non-UTF-8 header name": _get(path, b"X-\xff: 1\r\n", basic),
            "invalid Content-Length": examine + json_ct + b"Content-Length: 1x\r\n\r\n{}",
            "negative Content-Length": examine + json_ct + b"Content-Length: -1\r\n\r\n{}",
            "two Content-Lengths": examine
            + json_ct
            + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            "Content-Length and chunked": examine
            + json_ct
            + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            "bad chunk size": examine + json_ct + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n",
            "chunk longer than its size": examine
            + json_ct
            + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX\r\n0\r\n\r\n",
            "unknown transfer coding": examine + json_ct + b"Transfer-Encoding: gzip2\r\n\r\n{}",
            "body shorter than its Content-Length": examine
            + json_ct
            + b"Content-Length: 10\r\n\r\n{}",
            "TLS on the plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
            "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "bare LF line endings": b"GET "
            + path.encode()
            + b" HTTP/1.1\nHost: x\n"
            + basic.replace(b"\r\n", b"\n")
            + b"\n",
        }
    )
    return kinds


def test_every_kind_of_malformed_request(wire: Wire) -> None:
    kinds = _every_kind(wire)
    for _name, request in kinds.items():
        wire.send(request)  # no 5xx; the log is checked when the module's service stops
    figure("wire", "kinds of malformed request", len(kinds))


HEADER_VALUE_BYTES = st.lists(st.sampled_from(BAD_BYTES), min_size=1, max_size=3)


@fuzz_settings(300)
@given(data=st.data())
def test_fuzz_credential_headers_with_bad_bytes(wire: Wire, data: st.DataObject) -> None:
    header = data.draw(st.sampled_from(CREDENTIAL_HEADERS), label="header")
    value = _credential(wire, header)
    for bad in data.draw(HEADER_VALUE_BYTES, label="bad bytes"):
        at = data.draw(st.integers(0, len(value)), label="at")
        value = value[:at] + bad + value[at:]
    method = data.draw(st.sampled_from([b"GET", b"POST", b"DELETE"]), label="method")
    path = data.draw(
        st.sampled_from(["/auth/check", f"{API}/user", "/api/web/namespaces", "/healthz"]),
        label="path",
    )
    request = method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    request += header.encode() + b": " + value + b"\r\n\r\n"
    wire.send(request)


@fuzz_settings(200)
@given(data=st.data())
def test_fuzz_request_heads_cut_and_corrupted(wire: Wire, data: st.DataObject) -> None:
    kinds = _every_kind(wire)
    request = kinds[data.draw(st.sampled_from(sorted(kinds)), label="kind")]
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(request)), label="at")
        op = data.draw(st.sampled_from(["insert", "replace", "cut"]), label="op")
        byte = data.draw(st.sampled_from(BAD_BYTES) | st.binary(min_size=1, max_size=2))
        if op == "insert":
            request = request[:at] + byte + request[at:]
        elif op == "replace":
            request = request[:at] + byte + request[at + 1 :]
        else:
            request = request[:at] + request[at + 1 :]
    if not request.endswith(b"\r\n\r\n"):
        request += b"\r\n\r\n"
    wire.send(request)
