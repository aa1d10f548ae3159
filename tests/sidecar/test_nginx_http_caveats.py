"""HTTP request caveats (http.path, http.method, http.host) judged through the shipped nginx.

nginx sends the check the raw request target (`$request_uri`), the method and
the host it received; these tests hold the token core's documented rules
(README, DESIGN.md section 2) against what a client can send through nginx.
They skip until the token core knows `http.path`, and run from then on.
"""

from __future__ import annotations

from typing import Any

import pytest
from sidecar_stack import Stack
from sidecar_support import bearer, injected, send

from service.tokens.caveats import from_json
from service.tokens.errors import MalformedCaveat


def _http_caveats_supported() -> bool:
    try:
        from_json({"type": "http.path", "patterns": ["/x"]})
    except MalformedCaveat:
        return False
    return True


pytestmark = pytest.mark.skipif(not _http_caveats_supported(), reason="needs http request caveats")

ORDERS = {"type": "http.path", "patterns": ["/orders/**"]}
GET_ONLY = {"type": "http.method", "methods": ["GET"]}
API_HOST = {"type": "http.host", "hosts": ["api.example.com"]}

PATHS_ALLOWED = [
    "/orders",
    "/orders/1",
    "/orders/a/b/c",
    # The query is not part of the path.
    "/orders/1?next=/admin",
    "/orders/1?x=../../admin",
    # Unreserved characters are compared decoded: %31 is "1".
    "/orders/%31",
]
PATHS_REFUSED = [
    "/",
    "/admin",
    "/orders-archive/1",
    "/ordersx",
    "/Orders/1",
    "/admin/orders/1",
    # Dot segments, plain or encoded, which nginx would resolve for its own routing.
    "/orders/../admin",
    "/orders/./1",
    "/orders/1/..",
    "/orders/%2e%2e/admin",
    "/orders/%2E%2E/admin",
    "/orders/.%2e/admin",
    # Empty segments.
    "//orders/1",
    "/orders//1",
    # Encoded separators and bytes that do not decode.
    "/orders/%2Fadmin",
    "/orders/%2fadmin",
    "/orders/..%2Fadmin",
    "/orders/%5C..%5Cadmin",
    "/orders/%ff",
]


def _token(stack: Stack, *caveats: dict[str, Any]) -> list[tuple[str, str]]:
    return bearer(stack.mint.token(*caveats))


def test_http_path_allows_only_paths_under_the_pattern(sidecar: Stack) -> None:
    token = _token(sidecar, ORDERS)
    for target in PATHS_ALLOWED:
        r = send(sidecar.port, "GET", target, token)
        assert r.status == 200, target
        assert r.echo()["target"] == target
    for target in PATHS_REFUSED:
        assert send(sidecar.port, "GET", target, token).status == 403, target
    assert [s.target for s in sidecar.echo.take()] == PATHS_ALLOWED


def test_http_path_cannot_be_claimed_by_the_client(sidecar: Stack) -> None:
    token = _token(sidecar, ORDERS)
    claims = [("X-Original-URI", "/orders/1"), ("X-Forwarded-Uri", "/orders/1")]
    for forged in (claims, injected(uri="/orders/1"), [("X-Envoy-Original-Path", "/orders/1")]):
        assert send(sidecar.port, "GET", "/admin", [*forged, *token]).status == 403, forged
    assert sidecar.echo.take() == []


def test_http_method_refuses_other_methods_whatever_the_client_claims(sidecar: Stack) -> None:
    token = _token(sidecar, GET_ONLY)
    assert send(sidecar.port, "GET", "/orders/1", token).status == 200
    claims_get = [("X-Original-Method", "GET"), ("X-Forwarded-Method", "GET")]
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for forged in ([], claims_get, injected(method="GET")):
            r = send(sidecar.port, method, "/orders/1", [*forged, *token], b"{}")
            assert r.status == 403, (method, forged)
    assert [s.method for s in sidecar.echo.take()] == ["GET"]


def test_http_host_is_the_host_nginx_received(sidecar: Stack) -> None:
    token = _token(sidecar, API_HOST)
    # Case-insensitive; nginx passes the host without its port.
    for host in ("api.example.com", "API.Example.COM", "api.example.com:8000"):
        assert send(sidecar.port, "GET", "/orders/1", token, host=host).status == 200, host
    for host in ("other.example.com", "api.example.com.evil.test", "example.com"):
        assert send(sidecar.port, "GET", "/orders/1", token, host=host).status == 403, host
        # Naming the allowed host in any forwarding header does not help.
        forged = injected(host="api.example.com")
        r = send(sidecar.port, "GET", "/orders/1", [*forged, *token], host=host)
        assert r.status == 403, host
    assert len(sidecar.echo.take()) == 3


def test_caveats_together_and_on_an_f5_token(sidecar: Stack) -> None:
    token = _token(sidecar, ORDERS, GET_ONLY, API_HOST)
    host = "api.example.com"
    assert send(sidecar.port, "GET", "/orders/7", token, host=host).status == 200
    assert send(sidecar.port, "POST", "/orders/7", token, b"", host=host).status == 403
    assert send(sidecar.port, "GET", "/admin", token, host=host).status == 403
    assert send(sidecar.port, "GET", "/orders/7", token, host="other.test").status == 403

    # An F5 AuthToken confined afterwards (attenuation needs no key).
    app_token = sidecar.mint.f5("team-http", "orders")
    confined = sidecar.mint.call(
        "POST",
        "/api/v3/onezone/tokens/confine",
        {"token": app_token, "caveats": [ORDERS, GET_ONLY]},
    )["token"]
    r = send(sidecar.port, "GET", "/orders/7", bearer(confined))
    assert r.status == 200
    assert r.upstream_header("X-Auth-App") == ["orders"]
    assert send(sidecar.port, "GET", "/admin", bearer(confined)).status == 403
    assert send(sidecar.port, "DELETE", "/orders/7", bearer(confined)).status == 403
