"""The sidecar example's nginx server block, run by a real nginx in front of the real service.

Each test sends raw requests to nginx (exact request targets, repeated and
forged headers) and looks at what the client gets back and at what the
echoing application received, if anything.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sidecar_support
from sidecar_stack import MAX_STALENESS, Stack
from sidecar_support import (
    ADDRESSES,
    FORGED_NAMES,
    EchoUpstream,
    NginxProcess,
    bearer,
    free_port,
    injected,
    send,
    shipped_config,
    substitute,
)

IP_LOOPBACK = {"type": "ip", "whitelist": ["127.0.0.0/8"]}
IP_TEN = {"type": "ip", "whitelist": ["10.0.0.0/8"]}
READONLY = {"type": "data.readonly"}
# What nginx itself sets upstream (the rest of FORGED_NAMES must not arrive at all).
SET_UPSTREAM = {"x-real-ip", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}


def test_a_missing_nginx_skips_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sidecar_support, "NGINX", None)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="nginx is not installed"):
        sidecar_support.require_nginx()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true"):
        sidecar_support.require_nginx()


def test_only_the_three_addresses_are_substituted() -> None:
    shipped = shipped_config()
    ran = substitute(shipped, listen=1, service="127.0.0.1:2", app="127.0.0.1:3")
    changed = [
        (a, b) for a, b in zip(shipped.splitlines(), ran.splitlines(), strict=True) if a != b
    ]
    assert {a.strip(): b.strip() for a, b in changed} == {
        ADDRESSES["listen"]: "listen 127.0.0.1:1;",
        ADDRESSES["service"]: "server 127.0.0.1:2;",
        ADDRESSES["app"]: "server 127.0.0.1:3;",
    }
    with pytest.raises(AssertionError, match="occurs 0 times"):
        substitute(shipped.replace("listen 8000;", "listen 8001;"), listen=1, service="a", app="b")


# Who gets through -------------------------------------------------------------


def test_no_token_is_401_with_the_challenge_and_the_application_is_not_reached(
    sidecar: Stack,
) -> None:
    for headers in ([], [("Authorization", "Bearer")], [("X-Auth-Token", "")], injected()):
        r = send(sidecar.port, "GET", "/orders/1", headers)
        assert r.status == 401, headers
        assert r.header("WWW-Authenticate") == 'Bearer realm="token-service"'
    r = send(sidecar.port, "GET", "/orders/1", bearer("not-a-token"))
    assert r.status == 401
    assert r.header("WWW-Authenticate", "").startswith('Bearer realm="token-service", error=')
    assert sidecar.echo.take() == []


def test_a_valid_token_reaches_the_application_with_its_subject(sidecar: Stack) -> None:
    token = sidecar.mint.token()
    for headers in (
        bearer(token),
        [("Authorization", f"APIToken {token}")],
        [("X-Auth-Token", token)],
    ):
        r = send(
            sidecar.port,
            "POST",
            "/orders?x=1",
            [*headers, ("Content-Type", "text/plain")],
            b"hello",
        )
        assert r.status == 200
        echo = r.echo()
        # The request itself arrives unchanged: method, raw target, body.
        assert (echo["method"], echo["target"], echo["body"]) == ("POST", "/orders?x=1", "hello")
        assert r.upstream_header("X-Auth-Subject") == [sidecar.mint.subject]
        # An Onezone token has no namespace or application: nothing is sent for them.
        assert r.upstream_header("X-Auth-Namespace") == r.upstream_header("X-Auth-App") == []
        assert (
            r.upstream_header("X-Real-IP") == r.upstream_header("X-Forwarded-For") == ["127.0.0.1"]
        )
    assert len(sidecar.echo.take()) == 3


def test_an_f5_token_passes_its_namespace_and_application(sidecar: Stack) -> None:
    token = sidecar.mint.f5("team-a", "orders")
    r = send(sidecar.port, "GET", "/orders/1", bearer(token))
    assert r.status == 200
    assert r.upstream_header("X-Auth-Subject") == [sidecar.mint.subject]
    assert r.upstream_header("X-Auth-Namespace") == ["team-a"]
    assert r.upstream_header("X-Auth-App") == ["orders"]
    # F5's own header is passed to the check too (the service's f5.token_header).
    r = send(sidecar.port, "GET", "/orders/1", [("X-F5-Api-Token", token)])
    assert r.status == 200 and r.upstream_header("X-Auth-App") == ["orders"]


def test_the_auth_location_cannot_be_asked_from_outside(sidecar: Stack) -> None:
    token = sidecar.mint.token()
    for headers in ([], bearer(token)):
        for target in ("/_auth", "/_auth?x=1"):
            assert send(sidecar.port, "GET", target, headers).status == 404
    # Below it is an ordinary, checked path of the application.
    assert send(sidecar.port, "GET", "/_auth/x").status == 401
    assert send(sidecar.port, "GET", "/_auth/x", bearer(token)).status == 200
    assert [s.target for s in sidecar.echo.take()] == ["/_auth/x"]


# What a client cannot forge ---------------------------------------------------


def test_forged_identity_and_forwarding_headers_are_replaced_upstream(sidecar: Stack) -> None:
    token = sidecar.mint.token()
    forged = injected()
    # Each forged header twice, before and after the token.
    r = send(
        sidecar.port, "GET", "/orders/1", [*forged, *bearer(token), *forged], host="shop.local"
    )
    assert r.status == 200
    received = {k.lower(): [] for k in FORGED_NAMES}
    for k, v in r.echo()["headers"]:
        if k.lower() in received:
            received[k.lower()].append(v)
    assert received == {
        **{k: [] for k in FORGED_NAMES},
        "x-auth-subject": [sidecar.mint.subject],
        "x-real-ip": ["127.0.0.1"],
        "x-forwarded-for": ["127.0.0.1"],
        "x-forwarded-proto": ["http"],
        "x-forwarded-host": ["shop.local"],
    }


def test_underscore_spellings_of_headers_are_dropped(sidecar: Stack) -> None:
    token = sidecar.mint.token()
    # WSGI and CGI read X_Auth_Subject and X-Auth-Subject as one HTTP_X_AUTH_SUBJECT.
    sly = [(k.replace("-", "_"), v) for k, v in injected()]
    r = send(sidecar.port, "GET", "/orders/1", [*sly, *bearer(token), *sly])
    assert r.status == 200
    assert not [k for k, _ in r.echo()["headers"] if "_" in k]
    assert r.upstream_header("X-Auth-Subject") == [sidecar.mint.subject]
    # Nor do they tell the check anything: the ip caveat still sees 127.0.0.1.
    ten = sidecar.mint.token(IP_TEN)
    assert send(sidecar.port, "GET", "/orders/1", [*sly, *bearer(ten)]).status == 403


def test_an_f5_identity_cannot_be_forged_by_an_onezone_token_holder(sidecar: Stack) -> None:
    token = sidecar.mint.token()
    forged = [("X-Auth-Namespace", "team-a"), ("X-Auth-App", "orders"), ("X-Auth-Subject", "usr-x")]
    r = send(sidecar.port, "GET", "/", [*bearer(token), *forged])
    assert r.status == 200
    assert r.upstream_header("X-Auth-Namespace") == r.upstream_header("X-Auth-App") == []
    assert r.upstream_header("X-Auth-Subject") == [sidecar.mint.subject]


@pytest.fixture
def recording() -> Iterator[tuple[NginxProcess, EchoUpstream]]:
    """The shipped nginx with the echo in the sidecar's place too: it shows what the check is sent."""
    echo = EchoUpstream()
    nginx = NginxProcess(service=echo.address, app=echo.address)
    try:
        nginx.start()
        yield nginx, echo
    finally:
        nginx.close()
        echo.close()


def test_the_check_is_sent_only_the_token_and_what_nginx_saw(
    recording: tuple[NginxProcess, EchoUpstream],
) -> None:
    nginx, echo = recording
    headers = [
        *injected(),
        ("Authorization", "Bearer T1"),
        ("X-Auth-Token", "T2"),
        ("X-F5-Api-Token", "T3"),
        ("Cookie", "session=1"),
        ("User-Agent", "attacker"),
        ("Content-Type", "application/json"),
        ("Connection", "X-Real-IP, X-Original-URI"),
    ]
    target = "/orders/%2e%2e//admin?a=../b"
    r = send(nginx.port, "DELETE", target, headers, b'{"x": 1}', host="Shop.Example:8000")
    assert r.status == 200
    check, app = echo.take()
    assert check.target == "/auth/check"
    assert check.body == b""
    assert check.names == {
        "host",
        "authorization",
        "x-auth-token",
        "x-f5-api-token",
        "x-original-uri",
        "x-original-method",
        "x-real-ip",
        "x-request-id",
    }
    assert check.header("Host") == ["shop.example"]
    assert check.header("Authorization") == ["Bearer T1"]
    assert check.header("X-Auth-Token") == ["T2"]
    assert check.header("X-F5-Api-Token") == ["T3"]
    # The raw request target, not the one nginx normalised for its own routing.
    assert check.header("X-Original-URI") == [target]
    assert check.header("X-Original-Method") == ["DELETE"]
    assert check.header("X-Real-IP") == ["127.0.0.1"]
    # One id follows the request into both logs.
    (request_id,) = check.header("X-Request-Id")
    assert app.header("X-Request-Id") == [request_id] and len(request_id) == 32
    assert (app.method, app.target, app.body) == ("DELETE", target, b'{"x": 1}')
    assert app.header("X-Auth-Subject") == ["usr-echo"]
    assert not app.names & (FORGED_NAMES - SET_UPSTREAM - {"x-auth-subject"})


def test_without_a_token_header_the_check_gets_none(
    recording: tuple[NginxProcess, EchoUpstream],
) -> None:
    nginx, echo = recording
    send(nginx.port, "GET", "/", [("Authorization", ""), ("X-Auth-Token", "")])
    check, _ = echo.take()
    assert check.names == {
        "host",
        "x-original-uri",
        "x-original-method",
        "x-real-ip",
        "x-request-id",
    }


def test_the_check_judges_the_request_the_application_gets(
    recording: tuple[NginxProcess, EchoUpstream],
) -> None:
    nginx, echo = recording
    # An absolute-form target names another host than the Host header: nginx
    # goes by the target's, for the check and the application alike.
    for target, host in (
        ("http://API.example.com:81/orders/1?q", "other.test"),
        ("/orders/..//x?y", "Shop.Example"),
    ):
        r = send(nginx.port, "PATCH", target, bearer("t"), b"", host=host)
        assert r.status == 200
        check, app = echo.take()
        assert check.header("Host") == app.header("Host") == app.header("X-Forwarded-Host")
        assert check.header("X-Original-URI") == [app.target]
        assert check.header("X-Original-Method") == [app.method] == ["PATCH"]


def test_two_tokens_in_one_request_are_refused_by_nginx(
    recording: tuple[NginxProcess, EchoUpstream],
) -> None:
    nginx, echo = recording
    twice = [("Authorization", "Bearer a"), ("Authorization", "Bearer b")]
    assert send(nginx.port, "GET", "/orders/1", twice).status == 400
    assert echo.take() == []


def test_ip_caveat_judges_the_real_peer_whatever_the_client_claims(sidecar: Stack) -> None:
    loopback = sidecar.mint.token(IP_LOOPBACK)
    ten = sidecar.mint.token(IP_TEN)
    assert send(sidecar.port, "GET", "/a", bearer(loopback)).status == 200
    assert send(sidecar.port, "GET", "/a", [*bearer(loopback), *injected()]).status == 200
    for forged in (
        [],
        [("X-Forwarded-For", "10.1.2.3")],
        [("X-Forwarded-For", "10.1.2.3"), ("X-Forwarded-For", "10.1.2.4")],
        [("X-Real-IP", "10.1.2.3")],
        [("Forwarded", "for=10.1.2.3")],
        injected(addr="10.1.2.3"),
    ):
        assert send(sidecar.port, "GET", "/a", [*bearer(ten), *forged]).status == 403, forged
    assert len(sidecar.echo.take()) == 2


def test_data_readonly_refuses_writes_whatever_method_the_client_claims(sidecar: Stack) -> None:
    readonly = sidecar.mint.token(READONLY)
    for method in ("GET", "HEAD"):
        assert send(sidecar.port, method, "/orders", bearer(readonly)).status == 200
    claims_get = [("X-Forwarded-Method", "GET"), ("X-Original-Method", "GET")]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for forged in ([], claims_get, injected(method="GET")):
            r = send(sidecar.port, method, "/orders", [*forged, *bearer(readonly)], b"{}")
            assert r.status == 403, (method, forged)
    assert [s.method for s in sidecar.echo.take()] == ["GET", "HEAD"]


def test_many_clients_at_once_each_get_their_own_verdict_and_identity(sidecar: Stack) -> None:
    apps = {f"app-{i}": sidecar.mint.f5("crowd", f"app-{i}") for i in range(4)}
    ten = sidecar.mint.token(IP_TEN)
    readonly = sidecar.mint.token(READONLY)

    def one(i: int) -> tuple[int, int, str | None]:
        kind = i % 6
        forged = [
            ("X-Auth-App", "app-0"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Original-Method", "GET"),
        ]
        if kind < 4:
            r = send(sidecar.port, "GET", f"/item/{i}", [*forged, *bearer(apps[f"app-{kind}"])])
            return i, r.status, (r.upstream_header("X-Auth-App") or [None])[0]
        token = ten if kind == 4 else readonly
        r = send(sidecar.port, "POST", f"/item/{i}", [*forged, *bearer(token)], b"")
        return i, r.status, None

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(300)))
    for i, status, app in results:
        if i % 6 < 4:
            assert (status, app) == (200, f"app-{i % 6}"), i
        else:
            assert status == 403, i
    seen = sidecar.echo.take()
    assert sorted(int(s.target.rsplit("/", 1)[1]) for s in seen) == [
        i for i in range(300) if i % 6 < 4
    ]
    for s in seen:
        assert s.header("X-Auth-App") == [f"app-{int(s.target.rsplit('/', 1)[1]) % 6}"]


# Revocation and outages -------------------------------------------------------


def test_a_revoked_token_is_refused_within_the_cache_bound(sidecar: Stack) -> None:
    token_id, token = sidecar.mint.named()
    for _ in range(5):
        # Verified once, then answered from the verification cache.
        assert send(sidecar.port, "GET", "/orders", bearer(token)).status == 200
    sidecar.mint.revoke(token_id)
    revoked = time.monotonic()
    while send(sidecar.port, "GET", "/orders", bearer(token)).status == 200:
        assert time.monotonic() - revoked < MAX_STALENESS + 0.5, "revoked token still served"
    assert [send(sidecar.port, "GET", "/orders", bearer(token)).status for _ in range(20)] == [
        401
    ] * 20


def assert_unavailable(port: int, echo: EchoUpstream, token: str) -> None:
    """What the README promises the application's client while authorization cannot be decided."""
    for method, body in (("GET", None), ("POST", b"{}")):
        r = send(port, method, "/orders/1", bearer(token), body)
        assert r.status == 503, (r.status, r.body)
        assert r.header("Retry-After") == "1"
        assert r.header("Cache-Control") == "no-store"
        assert r.body == b"authorization temporarily unavailable\n"
    assert echo.take() == []


def test_token_store_down_or_slow_is_503_with_retry_after_never_a_pass(own_sidecar: Stack) -> None:
    stack = own_sidecar
    cached = stack.mint.token()
    fresh = stack.mint.token()
    assert send(stack.port, "GET", "/orders/1", bearer(cached)).status == 200
    stack.echo.take()

    # Slow: Redis does not answer; the service gives up after its socket
    # timeout (504) and nginx answers 503.
    stack.redis.pause()
    try:
        time.sleep(MAX_STALENESS + 0.1)
        started = time.monotonic()
        assert_unavailable(stack.port, stack.echo, fresh)
        assert_unavailable(stack.port, stack.echo, cached)
        assert time.monotonic() - started < 5
    finally:
        stack.redis.resume()
    assert send(stack.port, "GET", "/orders/1", bearer(fresh)).status == 200
    stack.echo.take()

    # Down: the service answers 503 at once, and so does nginx.
    stack.redis.stop()
    time.sleep(MAX_STALENESS + 0.1)
    assert_unavailable(stack.port, stack.echo, fresh)
    assert_unavailable(stack.port, stack.echo, cached)
    # A request without a token needs no store: still 401.
    assert send(stack.port, "GET", "/orders/1").status == 401


def test_sidecar_unreachable_is_503_too() -> None:
    echo = EchoUpstream()
    # Nothing listens on the sidecar's port.
    nginx = NginxProcess(service=f"127.0.0.1:{free_port()}", app=echo.address)
    try:
        nginx.start()
        assert_unavailable(nginx.port, echo, "any-token")
    finally:
        nginx.close()
        echo.close()


def test_a_sidecar_that_never_answers_is_503_after_the_read_timeout() -> None:
    echo = EchoUpstream()
    # Connections are taken by the kernel's backlog and never answered.
    wedged = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    wedged.bind(("127.0.0.1", 0))
    wedged.listen(16)
    nginx = NginxProcess(service=f"127.0.0.1:{wedged.getsockname()[1]}", app=echo.address)
    try:
        nginx.start()
        started = time.monotonic()
        r = send(nginx.port, "GET", "/orders/1", bearer("any-token"), timeout=20)
        # proxy_read_timeout 5s in the shipped config.
        assert 4.5 < time.monotonic() - started < 10
        assert (r.status, r.header("Retry-After")) == (503, "1")
        assert echo.take() == []
    finally:
        nginx.close()
        echo.close()
        wedged.close()


def test_the_applications_own_errors_pass_through_untouched(sidecar: Stack) -> None:
    token = sidecar.mint.token()
    for code in (500, 502, 503):
        r = send(sidecar.port, "GET", f"/status/{code}", bearer(token))
        assert r.status == code
        assert r.header("Retry-After") is None
        assert r.echo()["target"] == f"/status/{code}"
