"""/auth/check's description of the proxied request: one precedence, no mixing, no copies.

nginx's form (X-Original-*, X-Real-IP, Host) first, then Traefik's
(X-Forwarded-*), then the check request itself (Envoy); believed only from
auth_check.trusted_proxies. And the API routes, which believe X-Forwarded-*
only from server.trusted_proxies.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from app_support import ClientFactory, add_user, basic
from multidict import CIMultiDict
from test_authz import (
    CHECK,
    bearer,
    described_requests,
    refusal,
    temporary,
    verified_without_request,
)

from service.api.authz import Describer
from service.appkeys import AUTHORITY
from service.tokens.caveats import DataReadonlyCaveat, IpCaveat
from service.web.forwarded import TrustedProxies

Client = TestClient[web.Request, web.Application]
NGINX = {
    "X-Original-Method": "PATCH",
    "X-Original-URI": "/n/x?y=1",
    "X-Real-IP": "198.51.100.4",
    "Host": "shop.example",
}
TRAEFIK = {
    "X-Forwarded-Method": "PUT",
    "X-Forwarded-Uri": "/a/b?c=d",
    "X-Forwarded-Host": "app.example",
    "X-Forwarded-For": "203.0.113.9, 127.0.0.5",
}


@pytest.fixture
async def alice(client: Client) -> str:
    return await add_user(client, "alice", "alice-password")


async def raw_request(client: Client, head: bytes) -> tuple[int, bytes]:
    """Send one request as raw bytes (header values no client library would send)."""
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(head + b"Connection: close\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        # Envoy: the request itself, its path after /auth/check raw (query kept), its Host.
        (
            "DELETE",
            CHECK + "/orders/7?x=1",
            {"Host": "api.example"},
            ("DELETE", "/orders/7?x=1", "api.example", "127.0.0.1"),
        ),
        ("POST", CHECK, {"Host": "api.example"}, ("POST", None, "api.example", "127.0.0.1")),
        # nginx auth_request: X-Original-*, X-Real-IP and the Host it passes.
        ("GET", CHECK, NGINX, ("PATCH", "/n/x?y=1", "shop.example", "198.51.100.4")),
        (
            "GET",
            CHECK,
            {"X-Original-URL": "https://Shop.Example:8443/u/v?w=1", "Host": "shop.example"},
            ("GET", "/u/v?w=1", "shop.example", "127.0.0.1"),
        ),
        (
            "GET",
            CHECK,
            {**NGINX, "X-Original-URL": "http://shop.example/n/x?y=1"},
            ("PATCH", "/n/x?y=1", "shop.example", "198.51.100.4"),
        ),
        # A header nobody sets is not read: the host is nginx's Host.
        (
            "GET",
            CHECK,
            {**NGINX, "X-Original-Host": "evil.example", "Forwarded": "for=10.1.2.3"},
            ("PATCH", "/n/x?y=1", "shop.example", "198.51.100.4"),
        ),
        # nginx's form without a target: Envoy's tail, if any.
        (
            "GET",
            CHECK + "/tail",
            {"X-Real-IP": "2001:db8::1", "Host": "h"},
            ("GET", "/tail", "h", "2001:db8::1"),
        ),
        # Traefik ForwardAuth: X-Forwarded-*; the peer is the last hop outside the proxies.
        ("GET", CHECK, TRAEFIK, ("PUT", "/a/b?c=d", "app.example", "203.0.113.9")),
        (
            "GET",
            CHECK,
            {"X-Forwarded-For": "127.0.0.9, 127.0.0.5", "Host": "h"},
            ("GET", None, "h", "127.0.0.9"),
        ),
        (
            "GET",
            CHECK,
            {"X-Forwarded-Uri": "/x", "Host": "auth.internal"},
            ("GET", "/x", "auth.internal", "127.0.0.1"),
        ),
    ],
)
async def test_precedence_table(
    client: Client,
    alice: str,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    headers: dict[str, str],
    expected: tuple[str, str | None, str | None, str],
) -> None:
    seen = described_requests(client, monkeypatch)
    token = await temporary(client, alice)
    r = await client.request(method, path, headers={**bearer(token), **headers})
    assert r.status == 200, await r.text()
    ((_, ctx),) = seen
    assert (ctx.method, ctx.path, ctx.host, ctx.peer_ip) == expected
    assert ctx.interface == "rest"


MIXED = [
    ({"X-Original-URI": "/a", "X-Forwarded-Uri": "/a"}, "X-Original-URI and X-Forwarded-Uri"),
    ({"X-Original-Method": "GET", "X-Forwarded-Method": "GET"}, "X-Original-Method and X-"),
    ({"X-Real-IP": "10.1.2.3", "X-Forwarded-For": "10.1.2.3"}, "X-Real-IP and X-Forwarded-For"),
    ({"X-Original-URI": "/a", "X-Forwarded-Host": "h"}, "X-Original-URI and X-Forwarded-Host"),
    ({"X-Original-URL": "http://h/a", "X-Forwarded-For": "10.1.2.3"}, "X-Original-URL and X-"),
    ({"X-Original-URI": "/a", "X-Original-URL": "http://h/b"}, "X-Original-URI and X-Original-URL"),
    (
        {"X-Original-URI": "/a?x", "X-Original-URL": "http://h/a"},
        "X-Original-URI and X-Original-URL",
    ),
    ({"X-Original-URL": "http://other.example/a"}, "X-Original-URL and Host"),
]


@pytest.mark.parametrize(("headers", "named"), MIXED)
async def test_mixed_forms_are_refused(
    client: Client, alice: str, headers: dict[str, str], named: str
) -> None:
    token = await temporary(client, alice)
    for _ in range(3):  # also once the token's verification is remembered
        r = await client.get(CHECK, headers={**bearer(token), "Host": "h", **headers})
        reason = await refusal(r, 403)
        assert reason.startswith("conflicting forwarding headers: ") and named in reason, reason
    # Without a token too: the description is refused before anything else.
    r = await client.get(CHECK, headers={"Host": "h", **headers})
    assert (await refusal(r, 403)).startswith("conflicting")
    assert (await client.get(CHECK, headers={**bearer(token), "Host": "h"})).status == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Original-Method", "GET"),
        ("X-Original-URI", "/a"),
        ("X-Original-URL", "http://h/a"),
        ("X-Real-IP", "10.1.2.3"),
        ("X-Forwarded-Method", "GET"),
        ("X-Forwarded-Uri", "/a"),
        ("X-Forwarded-Host", "h"),
        ("X-Forwarded-For", "10.1.2.3"),
    ],
)
async def test_duplicated_headers_are_refused(
    client: Client, alice: str, name: str, value: str
) -> None:
    # No client library sends a header twice (aiohttp's folds them): raw bytes.
    token = (await temporary(client, alice)).encode()
    head = b"GET /auth/check HTTP/1.1\r\nHost: h\r\nX-Auth-Token: " + token + b"\r\n"
    line = f"{name}: {value}\r\n".encode()
    assert (await raw_request(client, head + line))[0] == 200
    for second in (value, "/other" if "/" in value else "10.9.9.9"):
        for other_case in (name, name.lower(), name.upper()):
            copy = f"{other_case}: {second}\r\n".encode()
            status, body = await raw_request(client, head + line + copy)
            assert (status, body) == (403, f"duplicated forwarding header: {name}\n".encode())


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"X-Real-IP": "not an address"}, "X-Real-IP"),
        ({"X-Real-IP": ""}, "X-Real-IP"),
        ({"X-Real-IP": "10.1.2.3:80"}, "X-Real-IP"),
        ({"X-Forwarded-For": "10.1.2.3, junk"}, "X-Forwarded-For"),
        ({"X-Forwarded-For": "junk, 10.1.2.3"}, "X-Forwarded-For"),
        ({"X-Forwarded-For": ""}, "X-Forwarded-For"),
        ({"X-Original-Method": "GE T"}, "X-Original-Method"),
        ({"X-Original-Method": ""}, "X-Original-Method"),
        ({"X-Forwarded-Method": "GET\\"}, "X-Forwarded-Method"),
        ({"X-Original-URI": "orders/1"}, "X-Original-URI"),
        ({"X-Original-URI": "/a b"}, "X-Original-URI"),
        # A fragment would hide the rest of the target from the check.
        ({"X-Original-URI": "/orders/x#/../../admin"}, "X-Original-URI"),
        ({"X-Forwarded-Uri": "/orders/x#/../admin"}, "X-Forwarded-Uri"),
        ({"X-Original-URL": "http://h/orders/x#/../admin"}, "X-Original-URL"),
        ({"X-Forwarded-Uri": "http://h/a"}, "X-Forwarded-Uri"),
        ({"X-Original-URL": "ftp://h/a"}, "X-Original-URL"),
        ({"X-Original-URL": "https://user@h/a"}, "X-Original-URL"),
        ({"X-Original-URL": "/a"}, "X-Original-URL"),
        ({"X-Original-URL": "http://[::1/a"}, "X-Original-URL"),
        ({"X-Forwarded-Host": "a b"}, "X-Forwarded-Host"),
        ({"X-Forwarded-Host": "a,b"}, "X-Forwarded-Host"),
        ({"X-Forwarded-Host": "h/evil"}, "X-Forwarded-Host"),
    ],
)
async def test_malformed_values_are_refused(
    client: Client, alice: str, headers: dict[str, str], named: str
) -> None:
    token = await temporary(client, alice)
    for _ in range(2):  # the second time the refusal is remembered
        r = await client.get(CHECK, headers={**bearer(token), "Host": "h", **headers})
        assert await refusal(r, 403) == f"malformed forwarding header: {named}"


def test_what_values_read_as_is_remembered_within_a_bound() -> None:
    describe = Describer(TrustedProxies(["127.0.0.0/8"]))

    def request(**headers: str) -> Any:
        return make_mocked_request(
            "GET",
            CHECK,
            headers=CIMultiDict(
                {"Host": "h", **{k.replace("_", "-"): v for k, v in headers.items()}}
            ),
            match_info={},
        )

    for i in range(5000):
        method, _, host, peer = describe(request(X_Real_IP=f"10.{i // 256}.{i % 256}.1"), True)
        assert (method, host, peer) == ("GET", "h", f"10.{i // 256}.{i % 256}.1")
    assert 0 < len(describe._memo[3]) <= 4096
    # A value once refused stays refused; one once read reads the same.
    for _ in range(3):
        with pytest.raises(Exception, match="malformed forwarding header: X-Real-IP"):
            describe(request(X_Real_IP="10.0.0.256"), True)
        assert describe(request(X_Real_IP="2001:DB8:0::1"), True)[3] == "2001:db8::1"


async def test_control_and_non_ascii_bytes(
    client: Client, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = described_requests(client, monkeypatch)
    token = (await temporary(client, alice)).encode()
    head = b"GET /auth/check HTTP/1.1\r\nHost: h\r\nX-Auth-Token: " + token + b"\r\n"
    # A tab inside a value, or bytes beyond ASCII where an address or method belongs: 403.
    for line in (
        b"X-Real-IP: 10.1.2.3\t9\r\n",
        b"X-Real-IP: 10.1.2.\xff\r\n",
        b"X-Original-Method: G\xc3\x89T\r\n",
        b"X-Forwarded-Host: h\xc3\xa9.example\r\n",
        b"X-Forwarded-Uri: /a\tb\r\n",
    ):
        status, body = await raw_request(client, head + line)
        assert status == 403, (line, body)
        assert body.startswith(b"malformed forwarding header: ")
    # Control bytes never reach the check: the HTTP parser refuses the request.
    for line in (b"X-Real-IP: 10.1.2.3\x01\r\n", b"X-Original-URI: /a\x00b\r\n"):
        status, _ = await raw_request(client, head + line)
        assert status == 400
    # Raw bytes in a request target (nginx passes $request_uri as it came) are
    # percent-encoded, losing nothing.
    assert seen == []
    status, _ = await raw_request(client, head + b"X-Original-URI: /caf\xc3\xa9?q=\xff\r\n")
    assert status == 200
    ((_, ctx),) = seen
    assert ctx.path == "/caf%C3%A9?q=%FF"
    # Envoy's target is passed as it came, encoded dots and slashes included (the
    # http.path caveat refuses such paths; a client library would normalise them).
    ip_bound = (await temporary(client, alice, IpCaveat(("127.0.0.1/32",)))).encode()
    status, _ = await raw_request(
        client,
        b"GET /auth/check/%2e%2e/a%2Fb//c?x=%2F HTTP/1.1\r\nHost: h\r\nX-Auth-Token: "
        + ip_bound
        + b"\r\n",
    )
    assert status == 200
    assert seen[-1][1].path == "/%2e%2e/a%2Fb//c?x=%2F"


async def test_client_injected_headers_through_nginx_change_nothing(
    client: Client, alice: str
) -> None:
    """nginx sets its form; whatever a client adds of the other form is refused, never believed."""
    ip_bound = await temporary(client, alice, IpCaveat(("10.1.2.3/32",)))
    readonly = await temporary(client, alice, DataReadonlyCaveat())
    nginx = {
        "X-Original-Method": "POST",
        "X-Original-URI": "/orders",
        "X-Real-IP": "192.0.2.7",
        "Host": "shop.example",
    }
    for token in (ip_bound, readonly):
        assert (await client.get(CHECK, headers={**bearer(token), **nginx})).status == 403
    for injected in (
        {"X-Forwarded-For": "10.1.2.3"},
        {"X-Forwarded-Method": "GET"},
        {"X-Forwarded-Uri": "/public"},
        {"X-Forwarded-Host": "other.example"},
        {"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Method": "GET"},
    ):
        for token in (ip_bound, readonly):
            r = await client.get(CHECK, headers={**bearer(token), **nginx, **injected})
            assert (await refusal(r, 403)).startswith("conflicting forwarding headers")


async def test_client_injected_headers_through_traefik_change_nothing(
    client: Client, alice: str
) -> None:
    """Traefik copies client headers to its auth request: nginx's form from a client is refused."""
    ip_bound = await temporary(client, alice, IpCaveat(("10.1.2.3/32",)))
    readonly = await temporary(client, alice, DataReadonlyCaveat())
    traefik = {**TRAEFIK, "X-Forwarded-For": "192.0.2.7", "X-Forwarded-Method": "DELETE"}
    for injected in (
        {"X-Real-IP": "10.1.2.3"},
        {"X-Original-Method": "GET"},
        {"X-Original-URI": "/public"},
        {"X-Original-URL": "http://app.example/public"},
    ):
        for token in (ip_bound, readonly):
            r = await client.get(CHECK, headers={**bearer(token), **traefik, **injected})
            assert (await refusal(r, 403)).startswith("conflicting forwarding headers")


async def test_headers_from_an_untrusted_peer_are_ignored_whatever_they_are(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client(auth_check__trusted_proxies=("10.0.0.0/8",))
    uid = await add_user(client, "alice", "pw")
    seen = described_requests(client, monkeypatch)
    # Not clock-only, so that each request is described to the verifier.
    token = await temporary(client, uid, IpCaveat(("127.0.0.1/32",)))
    for headers in (
        NGINX,
        TRAEFIK,
        {**NGINX, **TRAEFIK},
        {"X-Real-IP": "junk", "X-Original-URL": "ftp://x"},
    ):
        seen.clear()
        r = await client.delete(CHECK + "/own?q", headers={**bearer(token), **headers})
        assert r.status == 200, await r.text()
        ((_, ctx),) = seen
        host = headers.get("Host")
        assert (ctx.method, ctx.path, ctx.peer_ip) == ("DELETE", "/own?q", "127.0.0.1")
        if host is not None:
            assert ctx.host == host
    # Copies of them are ignored as well.
    dup = CIMultiDict([*bearer(token).items(), ("X-Real-IP", "1.1.1.1"), ("X-Real-IP", "2.2.2.2")])
    r = await client.get(CHECK, headers=dup)
    assert r.status == 200, (await r.text(), seen[-1])


async def test_remembered_tokens_still_get_a_refused_description(
    client: Client, alice: str
) -> None:
    """The context-free fast path of clock-only tokens never skips the header checks."""
    token = await temporary(client, alice)
    authority = client.app[AUTHORITY]
    for _ in range(2):
        assert (await client.get(CHECK, headers=bearer(token))).status == 200
    assert await verified_without_request(authority, token, "access_or_f5")
    for bad in ({**NGINX, **TRAEFIK}, {"X-Real-IP": "junk"}):
        assert (await client.get(CHECK, headers={**bearer(token), **bad})).status == 403


async def test_many_concurrent_checks_each_see_their_own_description(
    client: Client, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ip_bound = await temporary(client, alice, IpCaveat(("10.0.0.0/8",)))

    async def one(i: int) -> tuple[int, int]:
        inside = i % 3 == 0
        mixed = i % 3 == 1
        headers: dict[str, str] = {
            **bearer(ip_bound),
            "X-Real-IP": f"10.0.{i % 256}.1" if inside else f"192.0.2.{i % 256}",
        }
        if mixed:
            headers["X-Forwarded-For"] = f"10.0.{i % 256}.1"
        r = await client.get(CHECK, headers=headers)
        await r.read()
        return i, r.status

    results = await asyncio.gather(*(one(i) for i in range(300)))
    for i, code in results:
        assert code == (200 if i % 3 == 0 else 403), (i, code)


# ------------------------------------------------------------- API routes


async def test_api_routes_believe_forwarding_headers_only_from_server_trusted_proxies(
    make_client: ClientFactory,
) -> None:
    # auth_check.trusted_proxies trusts loopback (its default); the API routes do not.
    client = await make_client()
    uid = await add_user(client, "alice", "alice-password")
    token = await temporary(client, uid, IpCaveat(("10.1.2.3/32",)))
    spoofed = {"X-Auth-Token": token, "X-Forwarded-For": "10.1.2.3"}
    r = await client.get("/api/v3/onezone/user", headers=spoofed)
    assert r.status == 401
    # /auth/check believes its own proxies.
    assert (await client.get(CHECK, headers=spoofed)).status == 200

    trusting = await make_client(server__trusted_proxies=("127.0.0.0/8",))
    uid = await add_user(trusting, "alice", "alice-password")
    token = await temporary(trusting, uid, IpCaveat(("10.1.2.3/32",)))
    spoofed = {"X-Auth-Token": token, "X-Forwarded-For": "10.1.2.3"}
    assert (await trusting.get("/api/v3/onezone/user", headers=spoofed)).status == 200

    # And the other way round: /auth/check does not believe server.trusted_proxies.
    split = await make_client(
        server__trusted_proxies=("127.0.0.0/8",), auth_check__trusted_proxies=()
    )
    uid = await add_user(split, "alice", "alice-password")
    token = await temporary(split, uid, IpCaveat(("10.1.2.3/32",)))
    spoofed = {"X-Auth-Token": token, "X-Forwarded-For": "10.1.2.3"}
    assert (await split.get(CHECK, headers=spoofed)).status == 403
    assert (await split.get("/api/v3/onezone/user", headers=spoofed)).status == 200


async def _failed_logins(client: Client, count: int, addresses: Any) -> list[int]:
    statuses = []
    for i in range(count):
        headers = {**basic("alice", f"guess-{i}"), "X-Forwarded-For": next(addresses)}
        r = await client.get("/api/v3/onezone/user", headers=headers)
        await r.read()
        statuses.append(r.status)
    return statuses


async def test_lockout_key_is_the_real_peer_unless_the_proxy_is_trusted(
    make_client: ClientFactory,
) -> None:
    limits = {"failed_login": (1000, 300.0), "failed_login_ip": (5, 300.0)}
    client = await make_client(rate_limits=limits)
    await add_user(client, "alice", "alice-password")
    # A fresh X-Forwarded-For each time does not give a fresh address to guess from.
    addresses = iter(f"203.0.113.{i}" for i in range(100))
    assert await _failed_logins(client, 7, addresses) == [401] * 5 + [429] * 2

    trusting = await make_client(rate_limits=limits, server__trusted_proxies=("127.0.0.0/8",))
    await add_user(trusting, "alice", "alice-password")
    addresses = iter(f"203.0.113.{i}" for i in range(100))
    assert await _failed_logins(trusting, 7, addresses) == [401] * 7
    same = iter(["198.51.100.1"] * 10)
    assert await _failed_logins(trusting, 7, same) == [401] * 5 + [429] * 2
