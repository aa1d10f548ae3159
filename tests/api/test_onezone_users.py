"""The rest of Onezone's token API: any user's tokens (admins), token status, every
user's token ids, and invite-token verification.

Every success body is checked against Onezone's own definitions of the
operation (`onezone_definitions.json`, vendored from onedata/onezone-swagger),
every error body against its Error definition.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from app_support import add_user
from confinement_support import app_for, generate
from onezone_support import (
    API,
    PASSWORD,
    SEED_TOKEN,
    Client,
    create_named,
    create_temporary,
    expect,
    expect_error,
    verify,
)
from users_support import People, as_token, users

from service.appkeys import AUTHORITY, STORE
from service.errors import StoreUnavailable
from service.tokens import encoding

NOW = 1_700_000_000
DEFINITIONS = json.loads((Path(__file__).parent / "onezone_definitions.json").read_text())
UNKNOWN_USER = "f" * 32


def conforms(body: Any, definition: str) -> None:
    """`body` validates against Onezone's definition of that name."""
    schema = {"$ref": f"#/definitions/{definition}", "definitions": DEFINITIONS["definitions"]}
    jsonschema.validate(body, schema)


async def ok(resp: aiohttp.ClientResponse, status: int, definition: str | None = None) -> Any:
    body = await expect(resp, status)
    if definition is not None:
        conforms(body, definition)
    return body


async def refused(resp: aiohttp.ClientResponse, status: int, ident: str, **details: Any) -> Any:
    error = await expect_error(resp, status, ident, **details)
    conforms({"error": error}, "Error")
    return error


@pytest.fixture
async def people(client: Client) -> People:
    return await People(client).setup()


TIME = [{"type": "time", "validUntil": NOW + 600}]


# ----------------------------------------------------------- success, for admins


async def test_admin_creates_a_named_token_that_is_the_users_in_every_way(
    client: Client, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    resp = await client.post(
        f"{users(people.alice_id)}/named",
        json={"name": "for-alice", "customMetadata": {"by": "admin"}},
        headers=people.admin,
    )
    created = await ok(resp, 201, "NamedTokenCreateResponse")
    tid, token = created["tokenId"], created["token"]
    assert resp.headers["Location"] == f"{API}/tokens/named/{tid}"
    assert resp.headers["RateLimit-Policy"]
    # Subject, listing, reading back, verification: alice's.
    verified = await ok(await verify(client, token), 200, "VerifyTokenResponse")
    assert verified["subject"] == {"type": "user", "id": people.alice_id}
    own = await ok(await client.get(f"{API}/user/tokens/named", headers=people.alice), 200)
    assert own == {"tokens": [tid]}
    admin_own = await ok(await client.get(f"{API}/user/tokens/named", headers=people.admin), 200)
    assert admin_own == {"tokens": []}
    named = await ok(
        await client.get(f"{API}/tokens/named/{tid}", headers=people.alice), 200, "NamedToken"
    )
    assert named["subject"] == {"type": "user", "id": people.alice_id}
    assert named["metadata"]["custom"] == {"by": "admin"}
    by_name = await ok(
        await client.get(f"{users(people.alice_id)}/named/name/for-alice", headers=people.admin),
        200,
        "NamedToken",
    )
    assert by_name == named
    # Alice may revoke it herself; then it is dead.
    await expect(await client.delete(f"{API}/user/tokens/named", headers=people.alice), 204)
    await refused(await verify(client, token), 400, "tokenInvalid")
    # The access log names the admin as the actor, alice as whom it was for.
    lines = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    (line,) = [x for x in lines if x["route"].endswith("/users/{id}/tokens/named")]
    assert line["subject"] == people.admin_id
    assert line["on_behalf_of"] == people.alice_id


async def test_admin_mints_are_charged_to_the_user(make_client: Any) -> None:
    client = await make_client(rate_limits={"mint": (2, 3600)})
    p = await People(client).setup()
    url = f"{users(p.alice_id)}/named"
    for name in ("one", "two"):
        await ok(await client.post(url, json={"name": name}, headers=p.admin), 201)
    await refused(
        await client.post(url, json={"name": "three"}, headers=p.admin), 429, "tooManyRequests"
    )
    await refused(
        await client.post(
            f"{users(p.alice_id)}/temporary", json={"caveats": TIME}, headers=p.admin
        ),
        429,
        "tooManyRequests",
    )
    # Alice's own budget is the one spent; the admin's own is untouched.
    await refused(
        await client.post(f"{API}/user/tokens/named", json={"name": "x1"}, headers=p.alice),
        429,
        "tooManyRequests",
    )
    await ok(
        await client.post(f"{API}/user/tokens/named", json={"name": "x1"}, headers=p.admin), 201
    )


async def test_admin_lists_gets_and_deletes_a_users_named_tokens(
    client: Client, people: People
) -> None:
    tids = [(await create_named(client, people.alice, f"t{i}"))[0] for i in range(3)]
    listed = await ok(
        await client.get(f"{users(people.alice_id)}/named", headers=people.admin), 200, "Tokens"
    )
    assert sorted(listed["tokens"]) == sorted(tids)
    # Her own view, through the new route, is the same.
    mine = await ok(await client.get(f"{users(people.alice_id)}/named", headers=people.alice), 200)
    assert mine == listed
    await ok(await client.delete(f"{users(people.alice_id)}/named", headers=people.admin), 204)
    assert (await ok(await client.get(f"{API}/user/tokens/named", headers=people.alice), 200)) == {
        "tokens": []
    }
    # Gone, for an admin too.
    for tid in tids:
        assert await client.app[STORE].named.owner(tid) is None


async def test_admin_creates_reads_and_revokes_temporary_tokens_of_a_user(
    client: Client, people: People
) -> None:
    url = f"{users(people.alice_id)}/temporary"
    gen = await ok(await client.get(url, headers=people.admin), 200, "TemporaryTokenGeneration")
    assert gen == {"generation": 0}
    created = await ok(await client.post(url, json={"caveats": TIME}, headers=people.admin), 201)
    jsonschema.validate(created, {"type": "object", "properties": {"token": {"type": "string"}}})
    token = created["token"]
    verified = await ok(await verify(client, token), 200)
    assert verified["subject"]["id"] == people.alice_id
    # The time caveat is required, as on /user/tokens/temporary.
    await refused(
        await client.post(url, json={}, headers=people.admin), 400, "tokenTimeCaveatRequired"
    )
    await ok(await client.delete(url, headers=people.admin), 204)
    await refused(await verify(client, token), 400, "tokenRevoked")
    assert await ok(await client.get(url, headers=people.alice), 200) == {"generation": 1}


async def test_admin_reads_modifies_and_deletes_any_named_token_by_id(
    client: Client, people: People
) -> None:
    tid, token = await create_named(client, people.alice, "hers")
    url = f"{API}/tokens/named/{tid}"
    status = await ok(await client.get(f"{url}/status", headers=people.admin), 200)
    conforms(status, "NamedTokenStatus")
    assert status == {"revoked": False}
    named = await ok(await client.get(url, headers=people.admin), 200, "NamedToken")
    assert named["subject"]["id"] == people.alice_id and named["token"] == token
    await ok(await client.patch(url, json={"revoked": True}, headers=people.admin), 204)
    assert await ok(await client.get(f"{url}/status", headers=people.alice), 200) == {
        "revoked": True
    }
    await refused(await verify(client, token), 400, "tokenRevoked")
    await ok(await client.delete(url, headers=people.admin), 204)
    await refused(await client.get(f"{url}/status", headers=people.admin), 404, "notFound")
    await refused(await client.get(f"{url}/status", headers=people.alice), 404, "notFound")


# -------------------------------------------------------------- authorization


def _operations(uid: str) -> list[tuple[str, str, Any]]:
    """Every /users/{id} operation: (method, url, body)."""
    return [
        ("POST", f"{users(uid)}/named", {"name": "op-token"}),
        ("GET", f"{users(uid)}/named", None),
        ("GET", f"{users(uid)}/named/name/op-token", None),
        ("DELETE", f"{users(uid)}/named", None),
        ("POST", f"{users(uid)}/temporary", {"caveats": TIME}),
        ("GET", f"{users(uid)}/temporary", None),
        ("DELETE", f"{users(uid)}/temporary", None),
    ]


async def test_each_user_route_is_for_the_user_and_admins_only(
    client: Client, people: People
) -> None:
    success = {"POST": 201, "GET": 200, "DELETE": 204}
    for who in (people.alice, people.admin):
        for method, url, body in _operations(people.alice_id):
            resp = await client.request(method, url, json=body, headers=who)
            await expect(resp, success[method])
    for method, url, body in _operations(people.alice_id):
        resp = await client.request(method, url, json=body, headers=people.bob)
        await refused(resp, 403, "forbidden")
        resp = await client.request(method, url, json=body)
        await refused(resp, 401, "unauthorized")
    # Bob learns nothing of which users exist: unknown and malformed ids are forbidden too.
    for uid in (UNKNOWN_USER, "not-a-user", "F" * 32):
        for method, url, body in _operations(uid):
            resp = await client.request(method, url, json=body, headers=people.bob)
            await refused(resp, 403, "forbidden")
            # An admin is told the user does not exist.
            resp = await client.request(method, url, json=body, headers=people.admin)
            await refused(resp, 404, "notFound")


async def test_admin_routes_refuse_everyone_else(client: Client, people: People) -> None:
    await refused(await client.get(f"{API}/tokens/named", headers=people.alice), 403, "forbidden")
    await refused(await client.get(f"{API}/tokens/named"), 401, "unauthorized")
    tid, _ = await create_named(client, people.alice, "hers")
    for who in (people.bob,):
        await refused(
            await client.get(f"{API}/tokens/named/{tid}/status", headers=who), 403, "forbidden"
        )
    for unknown in ("0" * 32, "not-an-id", "A" * 32, tid[:-1]):
        for who in (people.alice, people.admin, people.bob):
            await refused(
                await client.get(f"{API}/tokens/named/{unknown}/status", headers=who),
                404,
                "notFound",
            )
    await refused(await client.get(f"{API}/tokens/named/{tid}/status"), 401, "unauthorized")


async def test_an_admins_token_acts_within_its_caveats(client: Client, people: People) -> None:
    """A token of an admin: what its caveats allow on another user's tokens, and no more."""
    # Only listing alice's named tokens.
    listing = f"ozw/get/token.null.user_named_tokens,{people.alice_id}"
    _, narrow = await create_named(
        client, people.admin, "narrow", caveats=[{"type": "api", "whitelist": [listing]}]
    )
    await ok(await client.get(f"{users(people.alice_id)}/named", headers=as_token(narrow)), 200)
    for uid in (people.bob_id, people.admin_id):
        resp = await client.get(f"{users(uid)}/named", headers=as_token(narrow))
        error = await refused(resp, 401, "unauthorized")
        assert error["details"]["authError"]["id"] == "tokenCaveatUnverified"
    for method, url, body in _operations(people.alice_id):
        if (method, url) == ("GET", f"{users(people.alice_id)}/named"):
            continue
        resp = await client.request(method, url, json=body, headers=as_token(narrow))
        error = await refused(resp, 401, "unauthorized")
        assert error["details"]["authError"]["id"] == "tokenCaveatUnverified"
    await refused(
        await client.get(f"{API}/tokens/named", headers=as_token(narrow)), 401, "unauthorized"
    )

    # A confined admin token (an ip caveat) reads status and ids, never a serialized token.
    _, confined = await create_named(
        client, people.admin, "confined", caveats=[{"type": "ip", "whitelist": ["127.0.0.1"]}]
    )
    tid, _ = await create_named(client, people.alice, "hers")
    headers = as_token(confined)
    await ok(await client.get(f"{API}/tokens/named/{tid}/status", headers=headers), 200)
    assert (
        tid in (await ok(await client.get(f"{API}/tokens/named", headers=headers), 200))["tokens"]
    )
    await refused(await client.get(f"{API}/tokens/named/{tid}", headers=headers), 403, "forbidden")
    await refused(
        await client.get(f"{users(people.alice_id)}/named/name/hers", headers=headers),
        403,
        "forbidden",
    )


async def test_an_admins_token_mints_for_a_user_and_reads_no_serialized_token(
    client: Client, people: People
) -> None:
    """Minting for another user through a token works (the child dies with it: see
    test_confinement); reading another user's serialized token through one does not."""
    _, admin_token = await create_named(client, people.admin, "admin-token")
    created = await ok(
        await client.post(
            f"{users(people.alice_id)}/named", json={"name": "hers"}, headers=as_token(admin_token)
        ),
        201,
        "NamedTokenCreateResponse",
    )
    verified = await ok(await verify(client, created["token"]), 200)
    assert verified["subject"]["id"] == people.alice_id
    for url in (
        f"{API}/tokens/named/{created['tokenId']}",
        f"{users(people.alice_id)}/named/name/hers",
    ):
        await refused(await client.get(url, headers=as_token(admin_token)), 403, "forbidden")
        await ok(await client.get(url, headers=people.admin), 200, "NamedToken")
    # For themselves, a token mints through the new routes as through /user/…,
    # and the child carries its caveats.
    _, own = await create_named(
        client, people.alice, "ip-bound", caveats=[{"type": "ip", "whitelist": ["127.0.0.1"]}]
    )
    created = await ok(
        await client.post(
            f"{users(people.alice_id)}/named", json={"name": "child"}, headers=as_token(own)
        ),
        201,
    )
    examined = await ok(
        await client.post(f"{API}/tokens/examine", json={"token": created["token"]}), 200
    )
    assert {"type": "ip", "whitelist": ["127.0.0.1"]} in examined["caveats"]
    temporary = await ok(
        await client.post(
            f"{users(people.alice_id)}/temporary", json={"caveats": TIME}, headers=as_token(own)
        ),
        201,
    )
    examined = await ok(
        await client.post(f"{API}/tokens/examine", json={"token": temporary["token"]}), 200
    )
    assert {"type": "ip", "whitelist": ["127.0.0.1"]} in examined["caveats"]


async def test_data_access_tokens_are_refused(client: Client, people: People) -> None:
    _, data = await create_named(client, people.admin, "data", caveats=[{"type": "data.readonly"}])
    headers = as_token(data)
    for method, url, body in _operations(people.alice_id):
        resp = await client.request(method, url, json=body, headers=headers)
        await refused(resp, 401, "unauthorized")
    await refused(await client.get(f"{API}/tokens/named", headers=headers), 401, "unauthorized")


# ------------------------------------------------------------ listing everyone's


async def test_every_users_named_token_ids(client: Client, people: People) -> None:
    expected = set()
    for who in (people.alice, people.bob, people.admin):
        for i in range(3):
            expected.add((await create_named(client, who, f"t{i}"))[0])
    # Expired tokens are not listed; temporary ones never are.
    await create_named(
        client, people.bob, "brief", caveats=[{"type": "time", "validUntil": NOW + 5}]
    )
    await create_temporary(client, people.bob, NOW + 60)
    client.app[AUTHORITY].store.clock.advance(10)  # type: ignore[attr-defined]
    resp = await client.get(f"{API}/tokens/named", headers=people.admin)
    body = await ok(resp, 200, "Tokens")
    assert resp.headers["X-Request-Id"]
    assert len(body["tokens"]) == len(expected) and set(body["tokens"]) == expected


async def test_listing_walks_in_steps(
    client: Client, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many users over several SSCAN steps, one user's index over several HSCAN steps."""
    store = client.app[STORE]
    expected = set()
    for i in range(40):
        uid = await add_user(client, f"user{i}", PASSWORD)
        tids = [f"{i:08x}{j:024x}" for j in range(3 if i else 2500)]
        await store.client.hset(
            store.keys.name_index(uid), mapping={f"n{j}": f"{t}:0" for j, t in enumerate(tids)}
        )
        expected.update(tids)
    original = store.named.iter_ids
    monkeypatch.setattr(store.named, "iter_ids", lambda: original(users_per_step=4))
    body = await ok(await client.get(f"{API}/tokens/named", headers=people.admin), 200, "Tokens")
    assert len(body["tokens"]) == len(expected) and set(body["tokens"]) == expected


async def test_an_index_edited_by_hand_cannot_break_the_listing(
    client: Client, people: People
) -> None:
    """Whatever a name index holds, the reply is JSON and holds only token ids."""
    tid, _ = await create_named(client, people.alice, "t1")
    store = client.app[STORE]
    odd = ['x"],"y', "back\\slash", "ctl\x01", "ż" * 4, ""]
    await store.client.hset(
        store.keys.name_index(people.bob_id), mapping={f"n{i}": f"{v}:0" for i, v in enumerate(odd)}
    )
    body = await ok(await client.get(f"{API}/tokens/named", headers=people.admin), 200, "Tokens")
    assert body == {"tokens": [tid]}


async def test_a_store_failure_mid_listing_cuts_the_connection(
    client: Client, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the reply has begun, a failure cannot be a 503: the client must not get valid JSON."""
    await create_named(client, people.alice, "t1")
    store = client.app[STORE]

    async def failing() -> Any:
        yield ["a" * 32]
        raise StoreUnavailable("gone")

    monkeypatch.setattr(store.named, "iter_ids", failing)
    resp = await client.get(f"{API}/tokens/named", headers=people.admin)
    assert resp.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()

    async def failing_at_once() -> Any:
        raise StoreUnavailable("gone")
        yield []  # pragma: no cover

    monkeypatch.setattr(store.named, "iter_ids", failing_at_once)
    resp = await client.get(f"{API}/tokens/named", headers=people.admin)
    await refused(resp, 503, "serviceUnavailable")


# ------------------------------------------------------------------ invite tokens


async def test_every_token_of_ours_is_not_an_invite_token(client: Client, people: People) -> None:
    _, named = await create_named(client, people.alice, "t1")
    _, identity = await create_named(client, people.alice, "id1", type={"identityToken": {}})
    temporary = await create_temporary(client, people.alice, NOW + 60)
    m = encoding.deserialize_onezone(named, 4096)
    encodings = {
        "onezone": named,
        "v1 url-safe": encoding.serialize_v1(m),
        "v2 url-safe": encoding.serialize_v2(m),
        "v2 standard, padded": base64.b64encode(encoding.encode_v2(m)).decode(),
    }
    cases = [(t, {"accessToken": {}}) for t in (*encodings.values(), temporary)]
    cases.append((identity, {"identityToken": {}}))
    url = f"{API}/tokens/verify_invite_token"
    for token, received in cases:
        error = await refused(
            await client.post(url, json={"token": token}),
            400,
            "notAnInviteToken",
            expectedInviteType="any",
            received=received,
        )
        assert "invitation token" in error["description"]
        await refused(
            await client.post(
                url,
                json={"token": token, "expectedInviteType": "userJoinGroup", "peerIp": "10.0.0.1"},
            ),
            400,
            "notAnInviteToken",
            expectedInviteType="userJoinGroup",
        )
    # Revoked or not, signed or not: the type is what is refused.
    await refused(await client.post(url, json={"token": named[:-4] + "AAAA"}), 400, "badToken")


async def test_f5_tokens_are_not_invite_tokens_and_foreign_ones_are_bad(
    client: Client, people: People
) -> None:
    url = f"{API}/tokens/verify_invite_token"
    # An F5 AuthToken is this service's too: an access token, not an invite token.
    await app_for(client, people.alice)
    _, alice_token = await create_named(client, people.alice, "f5-parent")
    f5 = await generate(client, alice_token)
    await refused(
        await client.post(url, json={"token": f5}),
        400,
        "notAnInviteToken",
        received={"accessToken": {}},
    )
    foreign = (SEED_TOKEN, "garbage", "", "A" * 40, "MDAx" + "\x00" * 8)
    for token in foreign:
        await refused(await client.post(url, json={"token": token}), 400, "badToken")
    await refused(await client.post(url, json={}), 400, "missingRequiredValue", key="token")
    await refused(await client.post(url, json={"token": 5}), 400, "badValueString", key="token")
    _, named = await create_named(client, people.alice, "t1")
    await refused(
        await client.post(url, json={"token": named, "expectedInviteType": "anything"}),
        400,
        "badValueNotAllowed",
    )
    await refused(
        await client.post(url, json={"token": named, "peerIp": "not-an-ip"}),
        400,
        "badValueIPv4Address",
    )
    await refused(await client.post(url, json={"token": "A" * 4097}), 400, "tokenTooLarge")


# ---------------------------------------------------------------- concurrency


async def test_concurrent_admin_mints_for_one_user_respect_her_limit(make_client: Any) -> None:
    client = await make_client(rate_limits={"mint": (25, 3600)})
    p = await People(client).setup()
    url = f"{users(p.alice_id)}/named"

    async def mint(i: int) -> int:
        who = p.admin if i % 2 else p.alice
        resp = await client.post(url, json={"name": f"c{i}"}, headers=who)
        await resp.read()
        return resp.status

    statuses = await asyncio.gather(*(mint(i) for i in range(200)))
    assert sorted(set(statuses)) == [201, 429] and statuses.count(201) == 25
    listed = await ok(await client.get(url, headers=p.admin), 200)
    assert len(listed["tokens"]) == 25
    every = await ok(await client.get(f"{API}/tokens/named", headers=p.admin), 200)
    assert sorted(every["tokens"]) == sorted(listed["tokens"])


# Each /user/tokens/… route and its /users/{id}/tokens/… twin: (method, path
# under either prefix, body, the operation and GRI of its api caveats).
_TWINS = [
    ("POST", "named", {"name": "twin"}, "create", "token.null.user_named_token,{user}"),
    ("GET", "named", None, "get", "token.null.user_named_tokens,{user}"),
    ("DELETE", "named", None, "delete", "token.null.user_named_tokens,{user}"),
    ("POST", "temporary", {"caveats": TIME}, "create", "token.null.user_temporary_token,{user}"),
    ("GET", "temporary", None, "get", "temporary_token_secret.{user}.user:shared"),
    ("DELETE", "temporary", None, "delete", "token.null.user_temporary_tokens,{user}"),
]


async def test_a_user_route_and_its_twin_answer_to_the_same_api_caveat(
    client: Client, people: People
) -> None:
    """The twins differ only in how the user is found: one api caveat admits both, or neither."""
    success = {"POST": 201, "GET": 200, "DELETE": 204}
    for i, (method, path, body, operation, gri) in enumerate(_TWINS):
        urls = (f"{API}/user/tokens/{path}", f"{users(people.alice_id)}/{path}")
        for j, url in enumerate(urls):
            named = {**body, "name": f"twin-{i}-{j}"} if body and "name" in body else body
            for owner, status in ((people.alice_id, success[method]), (people.bob_id, 401)):
                allowed = f"ozw/{operation}/{gri.replace('{user}', owner)}"
                _, token = await create_named(
                    client,
                    people.alice,
                    f"cred-{i}-{j}-{status}",
                    caveats=[{"type": "api", "whitelist": [allowed]}],
                )
                resp = await client.request(method, url, json=named, headers=as_token(token))
                await expect(resp, status)
