"""Who may call the Onezone dialect: credentials, caveats, lockout, rate limits, deprecations."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from app_support import ClientFactory, basic, make_settings
from onezone_support import (
    API,
    PASSWORD,
    Client,
    create_named,
    create_temporary,
    expect,
    expect_error,
    new_user,
    verify,
)

from service.appkeys import STORE
from service.clock import FakeClock
from service.tokens import encoding
from service.tokens.macaroon import Macaroon

NOW = 1_700_000_000


async def _caveated(client: Client, *cavs: dict[str, Any]) -> tuple[str, dict[str, str], str]:
    """A user, its Basic header, and a named access token with these caveats."""
    uid, auth = await new_user(client)
    _, token = await create_named(client, auth, "caveated", caveats=list(cavs))
    return uid, auth, token


async def _auth_error(resp: Any, ident: str) -> dict[str, Any]:
    """The nested authError of a 401 unauthorized."""
    error = await expect_error(resp, 401, "unauthorized")
    auth_error: dict[str, Any] = error["details"]["authError"]
    assert auth_error["id"] == ident, auth_error
    return auth_error


# -------------------------------------------------------------- credentials


async def test_no_credentials(client: Client) -> None:
    for method, path in [
        ("GET", "/user"),
        ("POST", "/user/tokens/named"),
        ("GET", "/user/tokens/named"),
        ("DELETE", "/user/tokens/named"),
        ("GET", "/user/tokens/named/name/x"),
        ("GET", f"/tokens/named/{'0' * 32}"),
        ("PATCH", f"/tokens/named/{'0' * 32}"),
        ("DELETE", f"/tokens/named/{'0' * 32}"),
        ("POST", "/user/tokens/temporary"),
        ("GET", "/user/tokens/temporary"),
        ("DELETE", "/user/tokens/temporary"),
        ("POST", "/user/client_tokens"),
        ("GET", "/user/client_tokens"),
    ]:
        resp = await client.request(method, f"{API}{path}", json={"revoked": True, "name": "n1"})
        error = await expect_error(resp, 401, "unauthorized")
        assert error["description"] == "You must authenticate yourself to perform this operation."


async def test_bad_basic_credentials(client: Client) -> None:
    await new_user(client)
    for headers in [
        basic("alice", "wrong"),
        basic("nobody", PASSWORD),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + "YWxpY2U="},  # no colon
    ]:
        resp = await client.get(f"{API}/user", headers=headers)
        error = await expect_error(resp, 401, "badBasicCredentials")
        assert error["description"] == "Invalid username or password."
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="onezone"'


async def test_bad_tokens_in_headers(client: Client) -> None:
    _, auth = await new_user(client)
    _, token = await create_named(client, auth)
    m = encoding.deserialize_onezone(token, 4096)
    forged = encoding.serialize_onezone(
        Macaroon(m.location, m.identifier, m.caveats, bytes(reversed(m.signature)))
    )
    for headers, ident in [
        ({"X-Auth-Token": "garbage"}, "badToken"),
        ({"Authorization": "Bearer garbage"}, "badToken"),
        ({"X-Auth-Token": token[:-10]}, "badToken"),
        ({"X-Auth-Token": token + "00"}, "badToken"),
        ({"X-Auth-Token": forged}, "tokenInvalid"),
    ]:
        await _auth_error(await client.get(f"{API}/user", headers=headers), ident)
    await expect(await client.get(f"{API}/user", headers={"Authorization": f"bearer {token}"}), 200)


async def test_lockout_after_repeated_bad_passwords(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    client = await make_client(settings=make_settings(rate_limits={"failed_login": (3, 300)}))
    _, good = await new_user(client)
    _, other = await new_user(client, "bob")
    for _ in range(3):
        await expect_error(
            await client.get(f"{API}/user", headers=basic("alice", "wrong")),
            401,
            "badBasicCredentials",
        )
    # Locked out now, even with the right password, before it is checked.
    for headers in [basic("alice", "wrong"), good]:
        resp = await client.get(f"{API}/user", headers=headers)
        error = await expect_error(resp, 429, "tooManyRequests")
        retry_after = int(resp.headers["Retry-After"])
        assert 0 < retry_after <= 300
        assert error["details"]["retryAfter"] == retry_after
        assert resp.headers["RateLimit-Policy"] == '"failed_login";q=3;w=300'
        assert resp.headers["RateLimit"].startswith('"failed_login";r=0;')
    # Other users are not locked out, and tokens still work.
    await expect(await client.get(f"{API}/user", headers=other), 200)
    clock.advance(300)
    await expect(await client.get(f"{API}/user", headers=good), 200)


async def test_password_spraying_is_locked_out_per_address(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    client = await make_client(
        settings=make_settings(rate_limits={"failed_login": (3, 300), "failed_login_ip": (5, 300)})
    )
    _, good = await new_user(client)
    # One guess at each of many users from one address: the address runs out.
    for i in range(5):
        await expect_error(
            await client.get(f"{API}/user", headers=basic(f"user{i}", "guess")),
            401,
            "badBasicCredentials",
        )
    resp = await client.get(f"{API}/user", headers=good)
    await expect_error(resp, 429, "tooManyRequests")
    assert resp.headers["RateLimit-Policy"] == '"failed_login_ip";q=5;w=300'
    clock.advance(300)
    await expect(await client.get(f"{API}/user", headers=good), 200)


async def test_mint_rate_limit(make_client: ClientFactory, clock: FakeClock) -> None:
    client = await make_client(settings=make_settings(rate_limits={"mint": (2, 60)}))
    _, auth = await new_user(client)
    _, other = await new_user(client, "bob")
    first = await client.post(f"{API}/user/tokens/named", json={"name": "one"}, headers=auth)
    await expect(first, 201)
    assert first.headers["RateLimit-Policy"] == '"mint";q=2;w=60'
    assert first.headers["RateLimit"].startswith('"mint";r=1;')
    await create_temporary(client, auth, NOW + 60)
    for method, path, body in [
        ("POST", "/user/tokens/named", {"name": "two"}),
        ("POST", "/user/tokens/temporary", {"caveats": [{"type": "time", "validUntil": NOW + 9}]}),
        ("POST", "/user/client_tokens", None),
    ]:
        resp = await client.request(method, f"{API}{path}", json=body, headers=auth)
        await expect_error(resp, 429, "tooManyRequests")
        assert 0 < int(resp.headers["Retry-After"]) <= 60
        assert resp.headers["RateLimit-Policy"] == '"mint";q=2;w=60'
        assert re.fullmatch(r'"mint";r=0;t=\d+', resp.headers["RateLimit"])
    # Per user; and a refused mint recorded nothing, so the name is still free.
    await create_named(client, other, "two")
    clock.advance(30)
    await create_named(client, auth, "two")


# ------------------------------------------------------------------ caveats


async def test_time_caveat(client: Client, clock: FakeClock) -> None:
    _, _, token = await _caveated(client, {"type": "time", "validUntil": NOW + 100})
    as_token = {"X-Auth-Token": token}
    await expect(await client.get(f"{API}/user", headers=as_token), 200)
    assert (await expect(await verify(client, token), 200))["ttl"] == 100
    clock.advance(99)
    assert (await expect(await verify(client, token), 200))["ttl"] == 1
    clock.advance(1)
    await expect_error(
        await verify(client, token),
        400,
        "tokenCaveatUnverified",
        caveat={"type": "time", "validUntil": NOW + 100},
    )
    await _auth_error(await client.get(f"{API}/user", headers=as_token), "tokenCaveatUnverified")


async def test_ip_caveat(client: Client) -> None:
    ip = {"type": "ip", "whitelist": ["10.0.0.0/8", "192.168.1.7"]}
    _, auth, token = await _caveated(client, ip)
    for peer in ["10.1.2.3", "192.168.1.7", "::ffff:10.0.0.1"]:
        await expect(await verify(client, token, peerIp=peer), 200)
    for body in [{"peerIp": "192.168.1.8"}, {"peerIp": "11.0.0.1"}, {}]:
        await expect_error(
            await verify(client, token, **body), 400, "tokenCaveatUnverified", caveat=ip
        )
    # The test client calls from 127.0.0.1.
    await _auth_error(
        await client.get(f"{API}/user", headers={"X-Auth-Token": token}), "tokenCaveatUnverified"
    )
    _, local = await create_named(
        client, auth, "local", caveats=[{"type": "ip", "whitelist": ["127.0.0.0/8"]}]
    )
    await expect(await client.get(f"{API}/user", headers={"X-Auth-Token": local}), 200)


async def test_interface_caveat(client: Client) -> None:
    oneclient = {"type": "interface", "interface": "oneclient"}
    _, auth, token = await _caveated(client, oneclient)
    await expect(await verify(client, token, interface="oneclient"), 200)
    for body in [{"interface": "rest"}, {}]:
        await expect_error(
            await verify(client, token, **body), 400, "tokenCaveatUnverified", caveat=oneclient
        )
    await _auth_error(
        await client.get(f"{API}/user", headers={"X-Auth-Token": token}), "tokenCaveatUnverified"
    )
    _, rest = await create_named(
        client, auth, "rest", caveats=[{"type": "interface", "interface": "rest"}]
    )
    await expect(await client.get(f"{API}/user", headers={"X-Auth-Token": rest}), 200)


async def test_api_caveat(client: Client) -> None:
    uid, auth, token = await _caveated(
        client, {"type": "api", "whitelist": ["ozw/get/user.*.instance:*"]}
    )
    as_token = {"X-Auth-Token": token}
    await expect(await client.get(f"{API}/user", headers=as_token), 200)
    await _auth_error(
        await client.post(f"{API}/user/tokens/named", json={"name": "x1"}, headers=as_token),
        "tokenCaveatUnverified",
    )
    await _auth_error(
        await client.get(f"{API}/user/tokens/named", headers=as_token), "tokenCaveatUnverified"
    )

    # `{user}` in a route's GRI is the token's subject.
    mine = f"ozw/get/token.null.user_named_tokens,{uid}:private"
    _, listing = await create_named(
        client, auth, "listing", caveats=[{"type": "api", "whitelist": [mine]}]
    )
    await expect(
        await client.get(f"{API}/user/tokens/named", headers={"X-Auth-Token": listing}), 200
    )
    await _auth_error(
        await client.delete(f"{API}/user/tokens/named", headers={"X-Auth-Token": listing}),
        "tokenCaveatUnverified",
    )
    theirs = "ozw/all/token.null.user_named_tokens,someone-else:private"
    _, wrong = await create_named(
        client, auth, "wrong", caveats=[{"type": "api", "whitelist": [theirs]}]
    )
    await _auth_error(
        await client.get(f"{API}/user/tokens/named", headers={"X-Auth-Token": wrong}),
        "tokenCaveatUnverified",
    )

    tid, anything_on_tokens = await create_named(
        client, auth, "tokens", caveats=[{"type": "api", "whitelist": ["all/all/token.*.*:*"]}]
    )
    headers = {"X-Auth-Token": anything_on_tokens}
    patch = {"customMetadata": {"k": "v"}}
    await expect(await client.patch(f"{API}/tokens/named/{tid}", json=patch, headers=headers), 204)
    # A confined token never reads a serialized token (its own neither).
    await expect_error(
        await client.get(f"{API}/tokens/named/{tid}", headers=headers), 403, "forbidden"
    )
    await _auth_error(await client.get(f"{API}/user", headers=headers), "tokenCaveatUnverified")
    # As in Onezone, verify_access_token leaves api caveats to each operation.
    await expect(await verify(client, anything_on_tokens), 200)


async def test_data_readonly_caveat(client: Client) -> None:
    _, _, token = await _caveated(client, {"type": "data.readonly"})
    as_token = {"X-Auth-Token": token}
    await expect(await client.get(f"{API}/user", headers=as_token), 200)
    await _auth_error(
        await client.post(f"{API}/user/tokens/named", json={"name": "x1"}, headers=as_token),
        "tokenCaveatUnverified",
    )
    await expect(await verify(client, token, allowDataAccessCaveats=True), 200)
    for body in [{"allowDataAccessCaveats": False}, {}]:
        await expect_error(
            await verify(client, token, **body),
            400,
            "tokenCaveatUnverified",
            caveat={"type": "data.readonly"},
        )


async def test_service_and_consumer_caveats(client: Client) -> None:
    uid, auth = await new_user(client)
    _, token = await create_named(
        client,
        auth,
        caveats=[
            {"type": "service", "whitelist": ["opw-*", "ozw-onezone"]},
            {"type": "consumer", "whitelist": [f"usr-{uid}"]},
        ],
    )
    await expect(await verify(client, token, service="opw-abc", consumer=f"usr-{uid}"), 200)
    await expect_error(
        await verify(client, token, service="opp-abc", consumer=f"usr-{uid}"),
        400,
        "tokenCaveatUnverified",
    )
    await expect_error(
        await verify(client, token, service="opw-abc", consumer="usr-other"),
        400,
        "tokenCaveatUnverified",
    )


async def test_temporary_token_caveats_and_use(client: Client, clock: FakeClock) -> None:
    _, auth = await new_user(client)
    token = await create_temporary(
        client, auth, NOW + 50, caveats=[{"type": "ip", "whitelist": ["127.0.0.1"]}]
    )
    as_token = {"Authorization": f"Bearer {token}"}
    await expect(await client.get(f"{API}/user", headers=as_token), 200)
    # A temporary access token can mint more tokens for its subject.
    await create_named(client, as_token, "from-temporary")
    clock.advance(50)
    await _auth_error(await client.get(f"{API}/user", headers=as_token), "tokenCaveatUnverified")


# ------------------------------------------------------------- deprecations

DEPRECATION = "@1561939200"
SUNSET = "Wed, 30 Jun 2027 23:59:59 GMT"
ANCHOR = "https://onedata.org/#/home/api/stable/onezone?anchor=operation/"
LINKS = {
    "POST": f'</api/v3/onezone/user/tokens/named>; rel="successor-version", '
    f'<{ANCHOR}create_named_token_for_current_user>; rel="deprecation"; type="text/html"',
    "GET": f'</api/v3/onezone/user/tokens/named>; rel="successor-version", '
    f'<{ANCHOR}list_named_tokens_of_current_user>; rel="deprecation"; type="text/html"',
    "DELETE": f'</api/v3/onezone/tokens/named/{{id}}>; rel="successor-version", '
    f'<{ANCHOR}delete_named_token>; rel="deprecation"; type="text/html"',
}
DEPRECATION_HEADERS = ("Deprecation", "Sunset", "Link")


def _assert_deprecated(resp: Any, method: str) -> None:
    assert resp.headers.getall("Deprecation") == [DEPRECATION]
    assert resp.headers.getall("Sunset") == [SUNSET]
    assert resp.headers.getall("Link") == [LINKS[method]]


async def _metric(client: Client, method: str) -> float:
    text = await (await client.get("/metrics")).text()
    route = "/api/v3/onezone/user/client_tokens" + ("/{token}" if method == "DELETE" else "")
    for line in text.splitlines():
        if line.startswith("deprecated_requests_total{") and f'method="{method}"' in line:
            if f'route="{route}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_deprecated_routes_carry_deprecation_headers(
    make_client: ClientFactory,
) -> None:
    client = await make_client(settings=make_settings(rate_limits={"mint": (1, 60)}))
    _, auth = await new_user(client)
    before = {m: await _metric(client, m) for m in LINKS}

    resp = await client.post(f"{API}/user/client_tokens", headers=auth)
    token = (await expect(resp, 200))["token"]
    _assert_deprecated(resp, "POST")
    resp = await client.post(f"{API}/user/client_tokens", headers=auth)
    await expect_error(resp, 429, "tooManyRequests")
    _assert_deprecated(resp, "POST")
    resp = await client.post(f"{API}/user/client_tokens")
    await expect_error(resp, 401, "unauthorized")
    _assert_deprecated(resp, "POST")

    for headers, status in [(auth, 200), ({}, 401), (basic("alice", "wrong"), 401)]:
        resp = await client.get(f"{API}/user/client_tokens", headers=headers)
        await expect(resp, status)
        _assert_deprecated(resp, "GET")

    for path, headers, status in [
        (token, {}, 401),
        ("not-a-token", auth, 400),
        (token, auth, 204),
        (token, auth, 404),
    ]:
        resp = await client.delete(f"{API}/user/client_tokens/{path}", headers=headers)
        await expect(resp, status)
        _assert_deprecated(resp, "DELETE")

    after = {m: await _metric(client, m) for m in LINKS}
    assert {m: after[m] - before[m] for m in LINKS} == {"POST": 3, "GET": 3, "DELETE": 4}


async def test_other_routes_carry_no_deprecation_headers(client: Client) -> None:
    _, auth = await new_user(client)
    tid, token = await create_named(client, auth)
    responses = [
        await client.get(f"{API}/user", headers=auth),
        await client.get(f"{API}/user"),
        await client.post(f"{API}/user/tokens/named", json={"name": "t2"}, headers=auth),
        await client.get(f"{API}/user/tokens/named", headers=auth),
        await client.get(f"{API}/tokens/named/{tid}", headers=auth),
        await client.patch(f"{API}/tokens/named/{tid}", json={"revoked": False}, headers=auth),
        await client.get(f"{API}/user/tokens/temporary", headers=auth),
        await client.post(f"{API}/tokens/examine", json={"token": token}),
        await verify(client, token),
        await client.put(f"{API}/user/client_tokens", headers=auth),
        await client.get(f"{API}/user/client_tokens/{token}", headers=auth),
        await client.get(f"{API}/nowhere", headers=auth),
        await client.get("/healthz"),
    ]
    for resp in responses:
        await resp.read()
        for name in DEPRECATION_HEADERS:
            assert name not in resp.headers, (resp.url, name)


async def test_revocation_reaches_the_verification_cache(make_client: ClientFactory) -> None:
    client = await make_client(settings=make_settings(cache__size=100, cache__max_staleness=60.0))
    _, auth = await new_user(client)
    tid, token = await create_named(client, auth)
    temporary = await create_temporary(client, auth, NOW + 60)
    for _ in range(2):  # the second answer may come from the cache
        await expect(await verify(client, token), 200)
        await expect(await verify(client, temporary), 200)
    # The two token lookups, and the user record behind the Basic logins.
    assert len(client.app[STORE].cache) == 3
    await expect(
        await client.patch(f"{API}/tokens/named/{tid}", json={"revoked": True}, headers=auth), 204
    )
    await expect(await client.delete(f"{API}/user/tokens/temporary", headers=auth), 204)
    # The revocation feed is asynchronous: allow it a moment, far below the staleness bound.
    deadline = asyncio.get_running_loop().time() + 2.0
    while asyncio.get_running_loop().time() < deadline:
        statuses = [(await verify(client, t)).status for t in (token, temporary)]
        if statuses == [400, 400]:
            break
        await asyncio.sleep(0.01)
    await expect_error(await verify(client, token), 400, "tokenRevoked")
    await expect_error(await verify(client, temporary), 400, "tokenRevoked")


async def test_password_change_reaches_every_cached_user_record(
    make_client: ClientFactory,
) -> None:
    client = await make_client(settings=make_settings(cache__size=100, cache__max_staleness=60.0))
    _, auth = await new_user(client)
    for _ in range(2):  # the second login is served from the cached user record
        await expect(await client.get(f"{API}/user", headers=auth), 200)
    await client.app[STORE].users.set_password("alice", "a-new-password-2")
    deadline = asyncio.get_running_loop().time() + 2.0
    while asyncio.get_running_loop().time() < deadline:
        if (await client.get(f"{API}/user", headers=auth)).status == 401:
            break
        await asyncio.sleep(0.01)
    await expect_error(await client.get(f"{API}/user", headers=auth), 401, "badBasicCredentials")
    await expect(await client.get(f"{API}/user", headers=basic("alice", "a-new-password-2")), 200)
