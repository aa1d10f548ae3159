"""Bad request bodies get Onezone's error for exactly what is wrong; never a 422 or a 500."""

from __future__ import annotations

from typing import Any

import pytest
from app_support import ClientFactory, make_settings
from onezone_support import (
    API,
    Client,
    create_named,
    expect,
    expect_error,
    new_user,
)

JSON = {"Content-Type": "application/json"}
BODY_ROUTES = [
    ("POST", "/user/tokens/named"),
    ("POST", "/user/tokens/temporary"),
    ("POST", "/tokens/examine"),
    ("POST", "/tokens/confine"),
    ("POST", "/tokens/verify_access_token"),
    ("POST", "/tokens/verify_identity_token"),
]


@pytest.fixture
async def auth(client: Client) -> dict[str, str]:
    return (await new_user(client))[1]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize(
    "raw",
    [b'{"name": ', b"{'name': 'x'}", b"nul", b'{"a":1}{"b":2}', b"\xff\xfe{}", b"[1, 2]", b'"x"'],
    ids=["truncated", "quotes", "bare", "two", "not-utf8", "array", "string"],
)
async def test_body_that_is_not_a_json_object(
    client: Client, auth: dict[str, str], method: str, path: str, raw: bytes
) -> None:
    resp = await client.request(method, f"{API}{path}", data=raw, headers={**auth, **JSON})
    error = await expect_error(resp, 400, "badMessage")
    assert error["description"] == "This message could not be understood by the server."


async def test_json_null_and_scalars(client: Client, auth: dict[str, str]) -> None:
    for raw in [b"null", b"42", b"true"]:
        resp = await client.post(f"{API}/user/tokens/named", data=raw, headers={**auth, **JSON})
        await expect_error(resp, 400, "badMessage")


async def test_patch_body_that_is_not_an_object(client: Client, auth: dict[str, str]) -> None:
    tid, _ = await create_named(client, auth)
    for raw in [b"[]", b"{", b'"revoked"']:
        resp = await client.patch(f"{API}/tokens/named/{tid}", data=raw, headers={**auth, **JSON})
        await expect_error(resp, 400, "badMessage")


@pytest.mark.parametrize(
    ("path", "body", "ident", "key"),
    [
        ("/user/tokens/named", {}, "missingRequiredValue", "name"),
        ("/user/tokens/named", {"name": None}, "badValueString", "name"),
        ("/user/tokens/named", {"name": 5}, "badValueString", "name"),
        ("/user/tokens/named", {"name": ["a"]}, "badValueString", "name"),
        ("/user/tokens/named", {"name": "ok", "revoked": "yes"}, "badValueBoolean", "revoked"),
        ("/user/tokens/named", {"name": "ok", "revoked": 1}, "badValueBoolean", "revoked"),
        ("/user/tokens/named", {"name": "ok", "revoked": None}, "badValueBoolean", "revoked"),
        (
            "/user/tokens/named",
            {"name": "ok", "customMetadata": []},
            "badValueJSON",
            "customMetadata",
        ),
        (
            "/user/tokens/named",
            {"name": "ok", "customMetadata": "x"},
            "badValueJSON",
            "customMetadata",
        ),
        ("/user/tokens/named", {"name": "ok", "type": "accessToken"}, "badValueTokenType", "type"),
        ("/user/tokens/named", {"name": "ok", "type": {}}, "badValueTokenType", "type"),
        (
            "/user/tokens/named",
            {"name": "ok", "type": {"accessToken": {}, "identityToken": {}}},
            "badValueTokenType",
            "type",
        ),
        (
            "/user/tokens/named",
            {"name": "ok", "type": {"inviteToken": {"inviteType": "userJoinSpace"}}},
            "badValueTokenType",
            "type",
        ),
        (
            "/user/tokens/named",
            {"name": "ok", "type": {"accessToken": 1}},
            "badValueTokenType",
            "type",
        ),
        ("/user/tokens/temporary", {"type": None}, "badValueTokenType", "type"),
        ("/tokens/examine", {}, "missingRequiredValue", "token"),
        ("/tokens/examine", {"token": 1}, "badValueString", "token"),
        ("/tokens/confine", {"caveats": []}, "missingRequiredValue", "token"),
        ("/tokens/verify_access_token", {}, "missingRequiredValue", "token"),
        ("/tokens/verify_access_token", {"token": {}}, "badValueString", "token"),
        (
            "/tokens/verify_access_token",
            {"token": "t", "peerIp": "nope"},
            "badValueIPv4Address",
            "peerIp",
        ),
        (
            "/tokens/verify_access_token",
            {"token": "t", "peerIp": 7},
            "badValueIPv4Address",
            "peerIp",
        ),
        (
            "/tokens/verify_access_token",
            {"token": "t", "interface": "gui"},
            "badValueNotAllowed",
            "interface",
        ),
        ("/tokens/verify_access_token", {"token": "t", "service": 1}, "badValueString", "service"),
        (
            "/tokens/verify_access_token",
            {"token": "t", "consumer": []},
            "badValueString",
            "consumer",
        ),
        (
            "/tokens/verify_identity_token",
            {"token": "t", "allowDataAccessCaveats": "true"},
            "badValueBoolean",
            "allowDataAccessCaveats",
        ),
    ],
)
async def test_wrong_types_and_missing_fields(
    client: Client, auth: dict[str, str], path: str, body: dict[str, Any], ident: str, key: str
) -> None:
    resp = await client.post(f"{API}{path}", json=body, headers=auth)
    error = await expect_error(resp, 400, ident, key=key)
    assert key in error["description"]


async def test_patch_wrong_types(client: Client, auth: dict[str, str]) -> None:
    tid, _ = await create_named(client, auth)
    url = f"{API}/tokens/named/{tid}"
    await expect_error(
        await client.patch(url, json={"revoked": "true"}, headers=auth),
        400,
        "badValueBoolean",
        key="revoked",
    )
    await expect_error(
        await client.patch(url, json={"customMetadata": None}, headers=auth),
        400,
        "badValueJSON",
        key="customMetadata",
    )


async def test_bad_caveats_in_create_requests(client: Client, auth: dict[str, str]) -> None:
    for path, base in [
        ("/user/tokens/named", {"name": "ok"}),
        ("/user/tokens/temporary", {}),
    ]:
        for caveats in [
            "time < 5",
            {"type": "time", "validUntil": 5},
            [{"type": "time", "validUntil": 5.5}],
            [{"type": "time"}],
            [{"type": "time", "validUntil": 5, "extra": 1}],
            [{"type": "ip", "whitelist": ["300.1.1.1"]}],
            [{"type": "interface", "interface": "gui"}],
            [{"type": "geo.country", "filter": "whitelist", "list": ["Poland"]}],
            [{"type": "api", "whitelist": ["ozw/get/nothing"]}],
            [{"type": "app", "app": "a1"}],
            [None],
        ]:
            resp = await client.post(
                f"{API}{path}", json={**base, "caveats": caveats}, headers=auth
            )
            error = await expect_error(resp, 400, "badValueCaveat")
            submitted = caveats if not isinstance(caveats, list) else caveats[0]
            if submitted:
                assert error["details"]["caveat"] == submitted
    assert await expect(await client.get(f"{API}/user/tokens/named", headers=auth), 200) == {
        "tokens": []
    }


async def test_empty_json_body(client: Client, auth: dict[str, str]) -> None:
    resp = await client.post(f"{API}/user/tokens/named", data=b"", headers={**auth, **JSON})
    await expect_error(resp, 400, "missingRequiredValue", key="name")
    resp = await client.post(f"{API}/tokens/verify_access_token", data=b"", headers=JSON)
    await expect_error(resp, 400, "missingRequiredValue", key="token")


async def test_unknown_keys_are_ignored(client: Client, auth: dict[str, str]) -> None:
    resp = await client.post(
        f"{API}/user/tokens/named", json={"name": "ok", "colour": "blue"}, headers=auth
    )
    await expect(resp, 201)


async def test_oversized_body_is_413(make_client: ClientFactory) -> None:
    client = await make_client(settings=make_settings(server__client_max_size=1024))
    _, auth = await new_user(client)
    big = {"name": "big", "customMetadata": {"x": "y" * 2048}}
    for resp in [
        await client.post(f"{API}/user/tokens/named", json=big, headers=auth),
        await client.post(f"{API}/tokens/verify_access_token", json={"token": "M" * 2048}),
    ]:
        error = await expect_error(resp, 413, "badMessage")
        assert "Too Large" in error["description"]
    assert await expect(await client.get(f"{API}/user/tokens/named", headers=auth), 200) == {
        "tokens": []
    }


async def test_unsupported_method_is_onezone_error(client: Client, auth: dict[str, str]) -> None:
    resp = await client.put(f"{API}/user/tokens/named", json={}, headers=auth)
    await expect_error(resp, 405, "notSupported")
    assert "GET" in resp.headers["Allow"]
    await expect_error(await client.get(f"{API}/nowhere", headers=auth), 404, "notFound")


async def test_a_refused_caveat_with_an_integer_beyond_64_bits_is_echoed_in_a_400(
    client: Client, auth: dict[str, str]
) -> None:
    body = b'{"caveats": [{"type": "time", "validUntil": 1, "filter": 123456789012345678901234567890}]}'
    resp = await client.post(f"{API}/user/tokens/temporary", data=body, headers={**auth, **JSON})
    assert resp.status == 400, await resp.text()
    assert "123456789012345678901234567890" in await resp.text()
