"""Abuse: oversized bodies, headers and tokens, slow and idle connections, password guessing.

Everything aims at a service on 127.0.0.1 (a real `python -m service serve`
process where sockets and the HTTP parser matter, the in-process app where
they do not) and is bounded in bytes, connections and seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import selectors
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import app_support
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from reliability_support import (
    API,
    HOST,
    ServiceProcess,
    figure,
    keys_json,
    new_key,
    percentile,
    raise_nofile,
    service_env,
)

from service.app import create_app
from service.appkeys import AUTHORITY
from service.clock import FakeClock
from service.settings import ServerSettings
from service.tokens import encoding
from service.tokens.errors import TokenError, TokenTooLarge
from service.tokens.identifiers import OnezoneIdentifier
from service.tokens.macaroon import mint

IDLE_CONNECTIONS = 10_000
SLOW_CONNECTIONS = 100
# How long after it opened the service closes a connection that has not completed a request.
HEADER_DEADLINE = ServerSettings().keepalive_timeout


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service process (embedded store) for the tests that need real sockets."""
    log = tmp_path_factory.mktemp("abuse") / "service.log"
    env = service_env("memory://", keys_json(new_key("k1")), secrets.token_urlsafe(16))
    proc = ServiceProcess(env, log)
    proc.start()
    try:
        proc.wait_ready_sync()
        yield proc
    finally:
        proc.close()
    text = proc.log()
    assert "unhandled error" not in text, text[-2000:]
    # aiohttp logs a malformed request at ERROR with a traceback quoting the offending
    # line; service.logs turns that into one WARNING without it.
    lines = [json.loads(line) for line in text.splitlines()]
    server = [d for d in lines if d["logger"] == "aiohttp.server"]
    assert not [d for d in server if d["level"] == "ERROR"], server[:3]
    assert "Traceback" not in text, text[-2000:]
    figure("abuse", "malformed requests logged (one WARNING each, no bytes)", len(server))


def _status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def _push_body(port: int, head: bytes, chunk: bytes, limit: int) -> tuple[bytes, int, float]:
    """Send `head`, then `chunk`s until the server answers or `limit` bytes are out."""
    started = time.monotonic()
    sent = 0
    with socket.create_connection((HOST, port)) as s:
        s.sendall(head)
        s.setblocking(False)
        with selectors.DefaultSelector() as sel:
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while sent < limit and time.monotonic() - started < 20:
                for _, events in sel.select(timeout=1.0):
                    if events & selectors.EVENT_READ:
                        s.setblocking(True)
                        s.settimeout(5)
                        return s.recv(65536), sent, time.monotonic() - started
                    with contextlib.suppress(BlockingIOError):
                        sent += s.send(chunk)
    return b"", sent, time.monotonic() - started


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_oversized_body_is_refused_before_it_is_read(service: ServiceProcess, framing: str) -> None:
    claimed = 64 << 20
    path = f"{API}/tokens/examine"
    if framing == "content-length":
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {claimed}\r\n\r\n"
        chunk = b"x" * 65536
    else:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += "Transfer-Encoding: chunked\r\n\r\n"
        chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    answer, sent, elapsed = _push_body(service.port, head.encode(), chunk, claimed)
    assert answer, "no answer while the body was still coming"
    assert _status(answer) == 413, answer[:200]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["id"] == "badMessage", body
    assert sent < claimed
    figure("abuse", f"413 for a 64 MiB body ({framing}): bytes sent when it came", sent, "B")
    figure("abuse", f"413 for a 64 MiB body ({framing}): time", round(elapsed, 4), "s")


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(request)
        return s.recv(65536)


def test_oversized_headers_are_refused(service: ServiceProcess) -> None:
    cases = {
        "one 100 kB header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
        + b"a" * 100_000
        + b"\r\n\r\n",
        "200 headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        + b"\r\n",
        "a 100 kB request line": b"GET /healthz?"
        + b"a" * 100_000
        + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "a 100 kB token header": b"GET /auth/check HTTP/1.1\r\nHost: x\r\nX-Auth-Token: "
        + b"A" * 100_000
        + b"\r\n\r\n",
    }
    for name, request in cases.items():
        answer = _raw(service.port, request)
        assert _status(answer) in (400, 431), (name, answer[:200])
        figure("abuse", f"status for {name}", _status(answer))
    # And the service is none the worse for it.
    assert _status(_raw(service.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) == 200


def _open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections that send nothing, opened no faster than the server accepts them."""
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            s = socket.create_connection((HOST, port), timeout=10)
            s.setblocking(False)
            socks.append(s)
            if i % 100 == 99:
                # A request behind them in the accept queue: once it is answered, they are in,
                # and the next ones do not overflow the listen backlog (a lost SYN costs 1 s).
                assert _status(_raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) == 200
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


async def _timed_get(session: aiohttp.ClientSession, url: str) -> float:
    started = time.monotonic()
    async with session.get(url) as resp:
        await resp.read()
        assert resp.status == 200
    return time.monotonic() - started


@pytest.mark.timeout(240)
async def test_idle_and_slow_connections_starve_nobody(tmp_path: Path) -> None:
    headroom = 512
    limit = raise_nofile(IDLE_CONNECTIONS + SLOW_CONNECTIONS + headroom)
    idle_target = min(IDLE_CONNECTIONS, limit - SLOW_CONNECTIONS - headroom)
    env = service_env("memory://", keys_json(new_key("k1")), secrets.token_urlsafe(16))
    env["TOKEN_SERVICE_SERVER_LOG_LEVEL"] = "warning"
    service = ServiceProcess(env, tmp_path / "service.log", nofile=limit)
    service.start()
    idle: list[socket.socket] = []
    slow: list[socket.socket] = []
    try:
        await service.wait_ready()
        started = time.monotonic()
        idle = await asyncio.to_thread(_open_idle, service.port, idle_target)
        opened_in = time.monotonic() - started
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            healthz = f"{service.url}/healthz"
            with_idle = [await _timed_get(session, healthz) for _ in range(20)]

            # Slowloris: headers that never end, one byte a second.
            opened_at = time.monotonic()
            slow = await asyncio.to_thread(_open_idle, service.port, SLOW_CONNECTIONS)
            for s in slow:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            closed_after: dict[int, float] = {}
            others: list[float] = []
            deadline = opened_at + HEADER_DEADLINE + 15
            while len(closed_after) < len(slow) and time.monotonic() < deadline:
                for i, s in enumerate(slow):
                    if i in closed_after:
                        continue
                    try:
                        s.send(b"a")
                    except OSError:
                        closed_after[i] = time.monotonic() - opened_at
                        continue
                    if _closed_by_peer(s):
                        closed_after[i] = time.monotonic() - opened_at
                others.append(await _timed_get(session, healthz))
                await asyncio.sleep(max(0.0, 1.0 - others[-1]))
            idle_closed = sum(1 for s in idle if _closed_by_peer(s))
    finally:
        for s in (*idle, *slow):
            s.close()
        service.close()
    assert len(idle) == idle_target
    assert max(with_idle) < 1.0, with_idle
    assert len(closed_after) == len(slow), f"{len(slow) - len(closed_after)} still open"
    assert max(closed_after.values()) <= HEADER_DEADLINE + 10
    assert percentile(others, 0.99) < 0.5, others
    figure("abuse", "RLIMIT_NOFILE of test and service", limit)
    figure("abuse", "idle connections held open", len(idle), f"of {IDLE_CONNECTIONS} wanted")
    figure("abuse", "time to open them", round(opened_in, 2), "s")
    figure("abuse", "/healthz with them open: max of 20", round(max(with_idle), 4), "s")
    figure("abuse", "/healthz with them open: median", round(statistics.median(with_idle), 4), "s")
    figure("abuse", "slowloris connections (1 header byte/s)", len(slow))
    figure(
        "abuse",
        "slowloris connections closed by the server after",
        f"{min(closed_after.values()):.1f}-{max(closed_after.values()):.1f}",
        "s",
    )
    figure("abuse", "idle connections closed by the server by then", idle_closed)
    figure("abuse", "/healthz during slowloris: p99", round(percentile(others, 0.99), 4), "s")
    figure("abuse", "/healthz during slowloris: samples", len(others))


# ---------------------------------------------------------------- in-process

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def app_client(aiohttp_client: Any) -> Client:
    conf = app_support
    # A trusted proxy on loopback tells the client's address in X-Forwarded-For.
    settings = conf.make_settings(server__trusted_proxies=("127.0.0.0/8",))
    app = create_app(settings, clock=FakeClock(1_700_000_000), keyring=conf.KEYRING)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def _get_user(client: Client, user: str, password: str, ip: str) -> tuple[int, float]:
    started = time.monotonic()
    resp = await client.get(
        f"{API}/user",
        headers={**app_support.basic(user, password), "X-Forwarded-For": ip},
    )
    await resp.read()
    return resp.status, time.monotonic() - started


async def test_password_guessing_is_locked_out_per_user_and_address(app_client: Client) -> None:
    conf = app_support
    limit = int(conf.make_settings().rate_limits.failed_login.limit)
    for name in ("alice", "bob"):
        await conf.add_user(app_client, name, f"{name}-password")
    attacker, home = "203.0.113.7", "198.51.100.1"
    wrong = [await _get_user(app_client, "alice", f"guess-{i}", attacker) for i in range(limit)]
    assert [s for s, _ in wrong] == [401] * limit
    locked = [await _get_user(app_client, "alice", f"guess-{i}", attacker) for i in range(5)]
    assert [s for s, _ in locked] == [429] * 5
    # Locked out even with the right password, which is not even checked then.
    assert (await _get_user(app_client, "alice", "alice-password", attacker))[0] == 429
    # The lockout is for this user from this address: alice elsewhere and bob here still work.
    assert (await _get_user(app_client, "alice", "alice-password", home))[0] == 200
    assert (await _get_user(app_client, "bob", "bob-password", attacker))[0] == 200
    assert (await _get_user(app_client, "bob", "wrong", attacker))[0] == 401

    # One guess each at many users from one address: counted per user, so none is refused.
    sprayed = [await _get_user(app_client, f"user{i}", "password1", attacker) for i in range(30)]
    figure("abuse", "failed logins before lockout (per user and address)", limit)
    figure(
        "abuse",
        "wrong password: median answer",
        round(statistics.median(t for _, t in wrong), 4),
        "s",
    )
    figure(
        "abuse", "locked out: median answer", round(statistics.median(t for _, t in locked), 4), "s"
    )
    figure(
        "abuse",
        "one guess at each of 30 users from one address: refused with 429",
        sum(1 for s, _ in sprayed if s == 429),
    )


def _time_refusal(text: str, limit: int, runs: int = 200) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        with pytest.raises(TokenTooLarge):
            encoding.deserialize_onezone(text, limit)
        best = min(best, time.perf_counter() - started)
    return best


async def test_oversized_tokens_are_refused_before_decoding(
    app_client: Client, service: ServiceProcess
) -> None:
    max_size = int(app_support.make_settings().onezone.max_token_size)
    megabyte = "A" * 1_000_000
    refusal = _time_refusal(megabyte, max_size)
    # A token just at the limit is decoded (and found malformed): the cost of decoding.
    started = time.perf_counter()
    for _ in range(200):
        with contextlib.suppress(Exception):
            encoding.deserialize_onezone("A" * max_size, max_size)
    decode = (time.perf_counter() - started) / 200
    assert refusal < 1e-4 and refusal < decode, (refusal, decode)

    # Over HTTP: in the body (below the body limit) and in a header.
    over = "A" * (max_size + 1)
    started = time.monotonic()
    resp = await app_client.post(f"{API}/tokens/verify_access_token", json={"token": over})
    body = await resp.json()
    http_refusal = time.monotonic() - started
    assert resp.status == 400 and body["error"]["id"] == "tokenTooLarge", body
    resp = await app_client.get(f"{API}/user", headers={"X-Auth-Token": over})
    body = await resp.json()
    assert resp.status == 401 and body["error"]["details"]["authError"]["id"] == "tokenTooLarge"
    # A megabyte token cannot even be sent: the body limit answers first.
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.post(
            f"{service.url}{API}/tokens/verify_access_token", json={"token": megabyte}
        ) as big:
            assert big.status == 413
        megabyte_http = time.monotonic() - started
    figure("abuse", "1 MB token refused by the parser in", round(refusal * 1e6, 2), "µs")
    figure("abuse", f"{max_size}-character token decoded in", round(decode * 1e6, 2), "µs")
    figure("abuse", "oversized token over HTTP: 400 tokenTooLarge in", round(http_refusal, 4), "s")
    figure("abuse", "1 MB token in a request body: 413 in", round(megabyte_http, 4), "s")


# Forged-token floods: only what verified is cached, and every cache is bounded.

FORGED = 50_000
RSS_CEILING_MB = 100


def _forged_tokens(count: int, size: int = 3_700, tag: str = "00000000") -> Iterator[str]:
    """Distinct well-formed Onezone tokens of about `size` characters, signed with a wrong key.

    `tag` starts each token id (the key tag: a real one takes them to the signature check).
    """
    root = secrets.token_bytes(32)
    filler = [f"service = ozw-{secrets.token_hex(20)}" for _ in range(40)]
    uid = secrets.token_hex(16)

    def forge(i: int, extra: int) -> str:
        ident = OnezoneIdentifier("named", None, uid, "access", f"{tag}{i:024x}").encode()
        texts = [f"time < {2_000_000_000 + i}", *filler[:extra]]
        return encoding.serialize_onezone(mint(root, ident, "onezone", texts))

    extra = next((n for n in range(len(filler) + 1) if len(forge(0, n)) >= size), len(filler))
    for i in range(count):
        yield forge(i, extra)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.timeout(600)
async def test_forged_token_flood_keeps_memory_bounded(tmp_path: Path, redis_url: str) -> None:
    env = service_env(
        redis_url,
        keys_json(new_key("k1")),
        secrets.token_urlsafe(16),
        TOKEN_SERVICE_SERVER_LOG_LEVEL="warning",
        TOKEN_SERVICE_CACHE_SIZE="10000",
    )
    proc = ServiceProcess(env, tmp_path / "service.log")
    proc.start()
    try:
        await proc.wait_ready()
        assert proc.proc is not None
        pid = proc.proc.pid
        tokens = _forged_tokens(FORGED)
        statuses: dict[int, int] = {}
        sizes: list[int] = []
        connector = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                for token in tokens:
                    sizes.append(len(token))
                    async with session.get(
                        f"{proc.url}/auth/check", headers={"Authorization": f"Bearer {token}"}
                    ) as resp:
                        await resp.read()
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1

            # Warm up, then measure from there.
            for token in _forged_tokens(500):
                async with session.get(
                    f"{proc.url}/auth/check", headers={"Authorization": f"Bearer {token}"}
                ) as resp:
                    await resp.read()
            before = _rss_mb(pid)
            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(32)))
            elapsed = time.monotonic() - started
        after = _rss_mb(pid)
    finally:
        proc.close()
    assert statuses == {401: FORGED}, statuses
    assert after <= RSS_CEILING_MB, (before, after)
    assert after - before < 20, (before, after)
    figure("forged flood", "distinct forged tokens at /auth/check", FORGED)
    figure("forged flood", "median token size", int(statistics.median(sizes)), "chars")
    figure("forged flood", "service VmRSS after warm-up", round(before, 1), "MB")
    figure("forged flood", "service VmRSS after the flood", round(after, 1), "MB")
    figure("forged flood", "requests per second", round(FORGED / elapsed))


def test_a_forged_flood_does_not_evict_good_tokens() -> None:
    conf = app_support
    app = create_app(conf.make_settings(), clock=FakeClock(1_700_000_000), keyring=conf.KEYRING)
    authority = app[AUTHORITY]
    uid = secrets.token_hex(16)
    ident = OnezoneIdentifier("named", None, uid, "access", authority.keyring.new_token_id())
    good = authority._onezone_token(ident, [f"time < {authority.now() + 3600}"])
    m, parsed = authority.parse_onezone(good)
    authority.verify_onezone_signature(m, parsed, authority.context())
    assert authority._parsed.peek(good) is not None
    tag = ident.token_id[:8]
    for token in _forged_tokens(25_000, size=200, tag=tag):
        m, parsed = authority.parse_onezone(token)
        with pytest.raises(TokenError):
            authority.verify_onezone_signature(m, parsed, authority.context())
    # Nothing forged was kept beyond the small pending set; the good token stayed.
    assert len(authority._parsed) == 1 and len(authority._good_signatures) == 1
    assert len(authority._unverified) == 0
    assert authority._parsed.peek(good) is not None
    # Parsed but never verified: held only in the bounded pending set.
    for token in _forged_tokens(1_000, size=200, tag=tag):
        authority.parse_onezone(token)
    assert len(authority._unverified) <= 256 and len(authority._parsed) == 1
