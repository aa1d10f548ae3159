"""HTTP request caveats on the API itself: a token confined to a request can do nothing else here.

At `/auth/check` the caveats judge the proxied request (tests/api/test_authz*.py,
tests/sidecar); on every other route they judge the API request the token is
presented with, and `verify_access_token` judges the `method`/`path`/`host`
of its body (absent: such a caveat fails closed).
"""

from __future__ import annotations

from typing import Any

import pytest
from onezone_support import API, Client, create_named, expect, expect_error, new_user, verify

ORDERS_GET = [
    {"type": "http.method", "methods": ["GET"]},
    {"type": "http.path", "patterns": ["/orders/**"]},
]


async def _auth_error(resp: Any, ident: str) -> None:
    error = await expect_error(resp, 401, "unauthorized")
    assert error["details"]["authError"]["id"] == ident, error


async def test_a_token_for_get_orders_can_do_nothing_on_the_api(client: Client) -> None:
    _, auth = await new_user(client)
    _, token = await create_named(client, auth, "orders", caveats=ORDERS_GET)
    headers = {"X-Auth-Token": token}
    # Reading, minting, revoking: every API request is outside /orders/**.
    await _auth_error(await client.get(f"{API}/user", headers=headers), "tokenCaveatUnverified")
    await _auth_error(
        await client.post(f"{API}/user/tokens/named", json={"name": "child"}, headers=headers),
        "tokenCaveatUnverified",
    )
    await _auth_error(
        await client.delete(f"{API}/user/tokens/temporary", headers=headers),
        "tokenCaveatUnverified",
    )


async def test_path_and_method_caveats_allow_exactly_the_api_request(client: Client) -> None:
    _, auth = await new_user(client)
    user_get = [
        {"type": "http.method", "methods": ["GET"]},
        {"type": "http.path", "patterns": [f"{API}/user"]},
    ]
    _, token = await create_named(client, auth, "user-only", caveats=user_get)
    headers = {"X-Auth-Token": token}
    assert (await expect(await client.get(f"{API}/user", headers=headers), 200))["userId"]
    await _auth_error(
        await client.get(f"{API}/user/tokens/named", headers=headers), "tokenCaveatUnverified"
    )


async def test_host_caveat_judges_the_host_of_the_api_request(client: Client) -> None:
    _, auth = await new_user(client)
    _, token = await create_named(
        client, auth, "host", caveats=[{"type": "http.host", "hosts": ["api.example.com"]}]
    )
    ok = {"X-Auth-Token": token, "Host": "API.example.com"}
    await expect(await client.get(f"{API}/user", headers=ok), 200)
    wrong = {"X-Auth-Token": token, "Host": "evil.example.com"}
    await _auth_error(await client.get(f"{API}/user", headers=wrong), "tokenCaveatUnverified")


@pytest.mark.parametrize(
    ("request_fields", "valid"),
    [
        ({"method": "GET", "path": "/orders/7", "host": "api.example.com"}, True),
        ({"method": "GET", "path": "/orders/7?x=1", "host": "api.example.com"}, True),
        ({"method": "POST", "path": "/orders/7", "host": "api.example.com"}, False),
        ({"method": "GET", "path": "/admin", "host": "api.example.com"}, False),
        ({"method": "GET", "path": "/orders/../admin", "host": "api.example.com"}, False),
        ({"method": "GET", "path": "/orders/%2e%2e/admin", "host": "api.example.com"}, False),
        ({"method": "GET", "path": "/orders/7", "host": "other.example.com"}, False),
        ({"path": "/orders/7", "host": "api.example.com"}, False),  # no method: fails closed
        ({"method": "GET", "host": "api.example.com"}, False),  # no path
        ({"method": "GET", "path": "/orders/7"}, False),  # no host
    ],
)
async def test_verify_access_token_judges_the_request_in_its_body(
    client: Client, request_fields: dict[str, str], valid: bool
) -> None:
    _, auth = await new_user(client)
    caveats = [*ORDERS_GET, {"type": "http.host", "hosts": ["api.example.com"]}]
    _, token = await create_named(client, auth, "svc", caveats=caveats)
    resp = await verify(client, token, **request_fields)
    if valid:
        assert (await expect(resp, 200))["subject"]["type"] == "user"
    else:
        await expect_error(resp, 400, "tokenCaveatUnverified")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("method", "GE T"),
        ("method", ""),
        ("method", "G\x00"),
        ("path", ""),
        ("host", "x" * 256),
        ("path", "/" + "a" * 9000),
        ("method", 7),
    ],
)
async def test_verify_access_token_refuses_malformed_request_fields(
    client: Client, key: str, value: Any
) -> None:
    _, auth = await new_user(client)
    _, token = await create_named(client, auth, "svc")
    resp = await verify(client, token, **{key: value})
    body = await expect(resp, 400)
    assert body["error"]["details"]["key"] == key, body
