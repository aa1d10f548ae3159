"""The Onezone dialect's routes: what each answers on success and on the usual failures."""

from __future__ import annotations

import re
from typing import Any

import pytest
from app_support import ClientFactory, make_settings
from onezone_support import (
    API,
    SEED_TOKEN,
    Client,
    caveat_texts,
    create_named,
    create_temporary,
    expect,
    expect_error,
    new_user,
    verify,
    verify_with_pymacaroons,
)

from service.appkeys import AUTHORITY
from service.clock import FakeClock
from service.tokens import encoding
from service.tokens.macaroon import Macaroon

NOW = 1_700_000_000
TOKEN_ID = re.compile(r"[0-9a-f]{32}")


# ------------------------------------------------------------ client tokens


async def test_seed_curl_flow_creates_a_client_token(client: Client) -> None:
    """`curl -u user:pass -X POST -d '' -H 'content-type: application/json' …/user/client_tokens`."""
    uid, auth = await new_user(client)
    resp = await client.post(
        f"{API}/user/client_tokens",
        data=b"",
        headers={**auth, "Content-Type": "application/json"},
    )
    body = await expect(resp, 200)
    assert set(body) == {"token"}
    token = body["token"]
    assert token.isalnum()
    ident = verify_with_pymacaroons(token)
    assert (ident.persistence, ident.kind, ident.user_id) == ("named", "access", uid)
    assert caveat_texts(token) == [f"time < {NOW + 2592000}"]
    assert resp.headers["RateLimit-Policy"] == '"mint";q=600;w=60'
    assert resp.headers["RateLimit"].startswith('"mint";r=599;')
    # A named token with a generated name, usable at once.
    named = await expect(
        await client.get(f"{API}/tokens/named/{ident.token_id}", headers=auth), 200
    )
    assert re.fullmatch(r"client-token-[0-9a-f]{8}", named["name"])
    assert named["token"] == token
    verified = await expect(await verify(client, token), 200)
    assert verified == {"subject": {"type": "user", "id": uid}, "ttl": 2592000}


async def test_client_token_without_content_type_or_body(client: Client) -> None:
    _, auth = await new_user(client)
    await expect(await client.post(f"{API}/user/client_tokens", headers=auth), 200)


async def test_client_tokens_listed_and_deleted_by_serialized_token(client: Client) -> None:
    _, auth = await new_user(client)
    assert await expect(await client.get(f"{API}/user/client_tokens", headers=auth), 200) == {
        "tokens": []
    }
    first = (await expect(await client.post(f"{API}/user/client_tokens", headers=auth), 200))[
        "token"
    ]
    _, named = await create_named(client, auth, "mine")
    listed = await expect(await client.get(f"{API}/user/client_tokens", headers=auth), 200)
    assert sorted(listed["tokens"]) == sorted([first, named])

    await expect(await client.delete(f"{API}/user/client_tokens/{first}", headers=auth), 204)
    await expect_error(await verify(client, first), 400, "tokenInvalid")
    await expect_error(
        await client.get(f"{API}/user", headers={"X-Auth-Token": first}), 401, "unauthorized"
    )
    listed = await expect(await client.get(f"{API}/user/client_tokens", headers=auth), 200)
    assert listed == {"tokens": [named]}
    await expect_error(
        await client.delete(f"{API}/user/client_tokens/{first}", headers=auth), 404, "notFound"
    )


async def test_client_token_delete_errors(client: Client) -> None:
    _, alice = await new_user(client, "alice")
    _, bob = await new_user(client, "bob")
    _, bobs = await create_named(client, bob, "bobs")
    await expect_error(
        await client.delete(f"{API}/user/client_tokens/{bobs}", headers=alice), 404, "notFound"
    )
    await expect(await verify(client, bobs), 200)
    await expect_error(
        await client.delete(f"{API}/user/client_tokens/not-a-token", headers=alice),
        400,
        "badToken",
    )
    # A temporary token is no client token.
    temporary = await create_temporary(client, alice, NOW + 60)
    await expect_error(
        await client.delete(f"{API}/user/client_tokens/{temporary}", headers=alice),
        404,
        "notFound",
    )
    await expect_error(await client.delete(f"{API}/user/client_tokens/{bobs}"), 401, "unauthorized")


# ------------------------------------------------------------- named tokens


async def test_create_named_token(client: Client) -> None:
    uid, auth = await new_user(client)
    resp = await client.post(
        f"{API}/user/tokens/named",
        json={
            "name": "new-token-1",
            "caveats": [{"type": "ip", "whitelist": ["10.0.0.0/8", "127.0.0.1"]}],
            "customMetadata": {"jobName": "experiment-15"},
        },
        headers=auth,
    )
    body = await expect(resp, 201)
    assert set(body) == {"tokenId", "token"}
    tid, token = body["tokenId"], body["token"]
    assert TOKEN_ID.fullmatch(tid)
    assert resp.headers["Location"] == f"{API}/tokens/named/{tid}"
    assert "RateLimit" in resp.headers and "RateLimit-Policy" in resp.headers
    ident = verify_with_pymacaroons(token)
    assert ident.encode() == f"2/nmd/usr-{uid}/act/{tid}"
    assert caveat_texts(token) == ["ip = 10.0.0.0/8|127.0.0.1"]

    expected = {
        "id": tid,
        "name": "new-token-1",
        "subject": {"type": "user", "id": uid},
        "type": {"accessToken": {}},
        "caveats": [{"type": "ip", "whitelist": ["10.0.0.0/8", "127.0.0.1"]}],
        "metadata": {"creationTime": NOW, "custom": {"jobName": "experiment-15"}},
        "revoked": False,
        "token": token,
    }
    assert (
        await expect(await client.get(f"{API}/tokens/named/{tid}", headers=auth), 200) == expected
    )
    by_name = await client.get(f"{API}/user/tokens/named/name/new-token-1", headers=auth)
    assert await expect(by_name, 200) == expected


async def test_named_identity_token(client: Client) -> None:
    uid, auth = await new_user(client)
    tid, token = await create_named(client, auth, "id", type={"identityToken": {}})
    assert verify_with_pymacaroons(token).encode() == f"2/nmd/usr-{uid}/idn/{tid}"
    named = await expect(await client.get(f"{API}/tokens/named/{tid}", headers=auth), 200)
    assert named["type"] == {"identityToken": {}}
    assert await expect(await verify(client, token, "identity"), 200) == {
        "subject": {"type": "user", "id": uid},
        "ttl": None,
    }
    await expect_error(
        await verify(client, token, "access"),
        400,
        "notAnAccessToken",
        received={"identityToken": {}},
    )
    # Identity tokens do not authenticate API calls.
    await expect_error(
        await client.get(f"{API}/user", headers={"X-Auth-Token": token}), 401, "unauthorized"
    )


async def test_named_token_names_are_unique_per_user(client: Client) -> None:
    _, alice = await new_user(client, "alice")
    _, bob = await new_user(client, "bob")
    await create_named(client, alice, "same")
    await create_named(client, bob, "same")
    resp = await client.post(f"{API}/user/tokens/named", json={"name": "same"}, headers=alice)
    await expect_error(resp, 400, "badValueIdentifierOccupied", key="name")


async def test_named_token_name_rules(client: Client) -> None:
    _, auth = await new_user(client)
    for bad in ["x", "a" * 129, " lead", "trail.", "-dash", "semi;colon", "new\nline"]:
        resp = await client.post(f"{API}/user/tokens/named", json={"name": bad}, headers=auth)
        await expect_error(resp, 400, "badValueName", key="name")
    for good in ["ab", "a" * 128, "Żółw (v2) [x]_{y}", "with space.and-dash"]:
        await create_named(client, auth, good)


async def test_list_and_delete_all_named_tokens(client: Client) -> None:
    _, auth = await new_user(client)
    _, other = await new_user(client, "bob")
    _, others = await create_named(client, other, "kept")
    made = [await create_named(client, auth, f"token-{i}") for i in range(3)]
    listed = await expect(await client.get(f"{API}/user/tokens/named", headers=auth), 200)
    assert listed == {"tokens": [tid for tid, _ in made]}

    await expect(await client.delete(f"{API}/user/tokens/named", headers=auth), 204)
    assert await expect(await client.get(f"{API}/user/tokens/named", headers=auth), 200) == {
        "tokens": []
    }
    for tid, token in made:
        await expect_error(await verify(client, token), 400, "tokenInvalid")
        await expect_error(
            await client.get(f"{API}/user", headers={"X-Auth-Token": token}), 401, "unauthorized"
        )
        await expect_error(
            await client.get(f"{API}/tokens/named/{tid}", headers=auth), 404, "notFound"
        )
    await expect(await verify(client, others), 200)
    # Deleting nothing is fine, and names are free again.
    await expect(await client.delete(f"{API}/user/tokens/named", headers=auth), 204)
    await create_named(client, auth, "token-0")


async def test_named_token_of_another_user_is_forbidden(client: Client) -> None:
    """As in Onezone: another user's token is `forbidden` (not an admin), an unknown id notFound."""
    _, alice = await new_user(client, "alice")
    _, bob = await new_user(client, "bob")
    tid, token = await create_named(client, alice, "private")
    url = f"{API}/tokens/named/{tid}"
    await expect_error(await client.get(url, headers=bob), 403, "forbidden")
    await expect_error(await client.get(f"{url}/status", headers=bob), 403, "forbidden")
    await expect_error(
        await client.patch(url, json={"revoked": True}, headers=bob), 403, "forbidden"
    )
    await expect_error(await client.delete(url, headers=bob), 403, "forbidden")
    assert (await expect(await client.get(f"{url}/status", headers=alice), 200)) == {
        "revoked": False
    }
    await expect_error(
        await client.get(f"{API}/user/tokens/named/name/private", headers=bob), 404, "notFound"
    )
    await expect(await verify(client, token), 200)
    for tid in ["0" * 32, "not-an-id", "A" * 32]:
        await expect_error(
            await client.get(f"{API}/tokens/named/{tid}", headers=alice), 404, "notFound"
        )
        await expect_error(
            await client.delete(f"{API}/tokens/named/{tid}", headers=alice), 404, "notFound"
        )
        await expect_error(
            await client.patch(f"{API}/tokens/named/{tid}", json={"revoked": True}, headers=alice),
            404,
            "notFound",
        )


async def test_revoke_and_unrevoke_named_token(client: Client) -> None:
    _, auth = await new_user(client)
    tid, token = await create_named(client, auth)
    url = f"{API}/tokens/named/{tid}"
    as_token = {"X-Auth-Token": token}
    await expect(await client.get(f"{API}/user", headers=as_token), 200)

    await expect(await client.patch(url, json={"revoked": True}, headers=auth), 204)
    await expect_error(await verify(client, token), 400, "tokenRevoked")
    error = await expect_error(
        await client.get(f"{API}/user", headers=as_token), 401, "unauthorized"
    )
    assert error["details"]["authError"]["id"] == "tokenRevoked"
    assert (await expect(await client.get(url, headers=auth), 200))["revoked"] is True

    await expect(await client.patch(url, json={"revoked": False}, headers=auth), 204)
    await expect(await verify(client, token), 200)
    await expect(await client.get(f"{API}/user", headers=as_token), 200)


async def test_token_created_revoked(client: Client) -> None:
    _, auth = await new_user(client)
    tid, token = await create_named(client, auth, revoked=True)
    await expect_error(await verify(client, token), 400, "tokenRevoked")
    named = await expect(await client.get(f"{API}/tokens/named/{tid}", headers=auth), 200)
    assert named["revoked"] is True


async def test_patch_custom_metadata(client: Client) -> None:
    _, auth = await new_user(client)
    tid, token = await create_named(client, auth, customMetadata={"a": 1})
    url = f"{API}/tokens/named/{tid}"
    await expect(await client.patch(url, json={"customMetadata": {"b": [1, 2]}}, headers=auth), 204)
    named = await expect(await client.get(url, headers=auth), 200)
    assert named["metadata"]["custom"] == {"b": [1, 2]}
    assert named["revoked"] is False
    await expect(await verify(client, token), 200)


async def test_patch_needs_at_least_one_value(client: Client) -> None:
    _, auth = await new_user(client)
    tid, _ = await create_named(client, auth)
    for body in [{}, {"name": "renamed"}]:
        resp = await client.patch(f"{API}/tokens/named/{tid}", json=body, headers=auth)
        await expect_error(resp, 400, "missingAtLeastOneValue", keys=["customMetadata", "revoked"])
    resp = await client.patch(f"{API}/tokens/named/{tid}", headers=auth)
    await expect_error(resp, 400, "missingAtLeastOneValue")


async def test_delete_named_token(client: Client) -> None:
    _, auth = await new_user(client)
    tid, token = await create_named(client, auth, "gone")
    _, kept = await create_named(client, auth, "kept")
    await expect(await client.delete(f"{API}/tokens/named/{tid}", headers=auth), 204)
    await expect_error(await verify(client, token), 400, "tokenInvalid")
    await expect_error(
        await client.get(f"{API}/user", headers={"X-Auth-Token": token}), 401, "unauthorized"
    )
    await expect_error(
        await client.delete(f"{API}/tokens/named/{tid}", headers=auth), 404, "notFound"
    )
    await expect_error(
        await client.get(f"{API}/user/tokens/named/name/gone", headers=auth), 404, "notFound"
    )
    await expect(await verify(client, kept), 200)


async def test_expired_named_token_frees_its_name(client: Client, clock: FakeClock) -> None:
    _, auth = await new_user(client)
    await create_named(client, auth, "short", caveats=[{"type": "time", "validUntil": NOW + 10}])
    clock.advance(11)
    assert await expect(await client.get(f"{API}/user/tokens/named", headers=auth), 200) == {
        "tokens": []
    }
    await create_named(client, auth, "short")


# --------------------------------------------------------- temporary tokens


async def test_temporary_token(client: Client) -> None:
    uid, auth = await new_user(client)
    resp = await client.post(
        f"{API}/user/tokens/temporary",
        json={"type": {"accessToken": {}}, "caveats": [{"type": "time", "validUntil": NOW + 600}]},
        headers=auth,
    )
    body = await expect(resp, 201)
    assert set(body) == {"token"}
    assert "RateLimit" in resp.headers and "RateLimit-Policy" in resp.headers
    ident = verify_with_pymacaroons(body["token"])
    assert (ident.persistence, ident.generation, ident.user_id) == ("temporary", 0, uid)
    assert await expect(await verify(client, body["token"]), 200) == {
        "subject": {"type": "user", "id": uid},
        "ttl": 600,
    }
    identity = await create_temporary(client, auth, NOW + 60, type={"identityToken": {}})
    assert verify_with_pymacaroons(identity).kind == "identity"
    await expect(await verify(client, identity, "identity"), 200)
    await expect_error(await verify(client, identity), 400, "notAnAccessToken")


async def test_temporary_token_needs_a_short_time_caveat(client: Client) -> None:
    _, auth = await new_user(client)
    url = f"{API}/user/tokens/temporary"
    for body in [
        {},
        {"caveats": []},
        {"caveats": [{"type": "ip", "whitelist": ["127.0.0.1"]}]},
        {"caveats": [{"type": "time", "validUntil": NOW + 604800}]},
    ]:
        error = await expect_error(
            await client.post(url, json=body, headers=auth), 400, "tokenTimeCaveatRequired"
        )
        assert error["details"] == {"maxTtl": 604800}
        assert error["description"] == (
            "You must specify a time caveat with maximum TTL of 604800 seconds."
        )
    await create_temporary(client, auth, NOW + 604799)


async def test_revoke_all_temporary_tokens(client: Client) -> None:
    _, auth = await new_user(client)
    _, other = await new_user(client, "bob")
    url = f"{API}/user/tokens/temporary"
    assert await expect(await client.get(url, headers=auth), 200) == {"generation": 0}
    tokens = [await create_temporary(client, auth, NOW + 60) for _ in range(2)]
    others = await create_temporary(client, other, NOW + 60)
    _, named = await create_named(client, auth)

    await expect(await client.delete(url, headers=auth), 204)
    assert await expect(await client.get(url, headers=auth), 200) == {"generation": 1}
    for token in tokens:
        await expect_error(await verify(client, token), 400, "tokenRevoked")
        await expect_error(
            await client.get(f"{API}/user", headers={"X-Auth-Token": token}), 401, "unauthorized"
        )
    await expect(await verify(client, others), 200)
    await expect(await verify(client, named), 200)
    fresh = await create_temporary(client, auth, NOW + 60)
    assert verify_with_pymacaroons(fresh).generation == 1
    await expect(await verify(client, fresh), 200)


# ------------------------------------------------------------------ examine


async def test_examine_refuses_the_seeds_legacy_token(client: Client) -> None:
    # Its identifier is Onezone's pre-version-2 form, which this service never
    # mints: examine says it cannot read it rather than guess its subject and kind.
    error = await expect_error(
        await client.post(f"{API}/tokens/examine", json={"token": SEED_TOKEN}),
        400,
        "badValueToken",
        key="token",
    )
    assert error["details"]["tokenError"]["id"] == "badToken"


async def test_examine_minted_tokens(client: Client) -> None:
    uid, auth = await new_user(client)
    tid, named = await create_named(
        client, auth, caveats=[{"type": "interface", "interface": "oneclient"}]
    )
    examined = await expect(await client.post(f"{API}/tokens/examine", json={"token": named}), 200)
    assert examined == {
        "onezoneDomain": "onezone",
        "id": tid,
        "persistence": "named",
        "subject": {"type": "user", "id": uid},
        "type": {"accessToken": {}},
        "caveats": [{"type": "interface", "interface": "oneclient"}],
    }
    temporary = await create_temporary(client, auth, NOW + 60, type={"identityToken": {}})
    examined = await expect(
        await client.post(f"{API}/tokens/examine", json={"token": temporary}), 200
    )
    assert examined["persistence"] == "temporary"
    assert examined["type"] == {"identityToken": {}}
    # Examining is not verifying: a revoked or expired token examines fine.
    await client.patch(f"{API}/tokens/named/{tid}", json={"revoked": True}, headers=auth)
    await expect(await client.post(f"{API}/tokens/examine", json={"token": named}), 200)


async def test_examine_bad_tokens(make_client: ClientFactory) -> None:
    client = await make_client(settings=make_settings(onezone__max_token_size=300))
    for token, ident in [("", "badToken"), ("garbage!", "badToken"), ("M" * 301, "tokenTooLarge")]:
        error = await expect_error(
            await client.post(f"{API}/tokens/examine", json={"token": token}),
            400,
            "badValueToken",
            key="token",
        )
        assert error["details"]["tokenError"]["id"] == ident


# ------------------------------------------------------------------ confine


async def test_confine_appends_caveats(client: Client) -> None:
    uid, auth = await new_user(client)
    _, token = await create_named(client, auth)
    resp = await client.post(
        f"{API}/tokens/confine",
        json={
            "token": token,
            "caveats": [
                {"type": "ip", "whitelist": ["10.1.0.0/16"]},
                {"type": "time", "validUntil": NOW + 30},
            ],
        },
    )
    confined = (await expect(resp, 200))["token"]
    assert caveat_texts(confined) == ["ip = 10.1.0.0/16", f"time < {NOW + 30}"]
    verify_with_pymacaroons(confined)
    await expect_error(
        await verify(client, confined, peerIp="10.2.0.1"), 400, "tokenCaveatUnverified"
    )
    assert await expect(await verify(client, confined, peerIp="10.1.2.3"), 200) == {
        "subject": {"type": "user", "id": uid},
        "ttl": 30,
    }
    # The original is untouched.
    await expect(await verify(client, token), 200)
    # The seed's token confines too: attenuation needs no key.
    seed = await client.post(
        f"{API}/tokens/confine", json={"token": SEED_TOKEN, "caveats": [{"type": "data.readonly"}]}
    )
    assert caveat_texts((await expect(seed, 200))["token"]) == [
        "time < 1522358333",
        "data.readonly",
    ]


async def test_confine_refuses_bad_caveats(client: Client) -> None:
    _, auth = await new_user(client)
    _, token = await create_named(client, auth)
    url = f"{API}/tokens/confine"
    for bad in [
        {"type": "time", "validUntil": "soon"},
        {"type": "ip", "whitelist": []},
        {"type": "nonsense"},
        {"type": "namespace", "namespace": "ns1"},
        "time < 5",
    ]:
        error = await expect_error(
            await client.post(url, json={"token": token, "caveats": [bad]}), 400, "badValueCaveat"
        )
        assert error["details"]["caveat"] == bad
    error = await expect_error(
        await client.post(url, json={"token": token, "caveats": {"type": "data.readonly"}}),
        400,
        "badValueCaveat",
    )
    await expect_error(
        await client.post(url, json={"token": token}), 400, "missingRequiredValue", key="caveats"
    )
    await expect_error(
        await client.post(url, json={"token": "bad token", "caveats": []}),
        400,
        "badValueToken",
        key="token",
    )


# ------------------------------------------------------------------- verify


async def test_verify_refuses_forged_and_unknown_tokens(client: Client) -> None:
    _, auth = await new_user(client)
    _, token = await create_named(client, auth)
    m = encoding.deserialize_onezone(token, 4096)
    forged = Macaroon(m.location, m.identifier, m.caveats, bytes(32))
    await expect_error(
        await verify(client, encoding.serialize_onezone(forged)), 400, "tokenInvalid"
    )
    unknown = encoding.serialize_onezone(m.add_first_party_caveat("weather = sunny"))
    await expect_error(
        await verify(client, unknown), 400, "tokenCaveatUnknown", caveat="weather = sunny"
    )
    await expect_error(await verify(client, "nonsense"), 400, "badToken")
    await expect_error(await verify(client, SEED_TOKEN), 400, "badToken")


async def test_verify_token_too_large(make_client: ClientFactory) -> None:
    client = await make_client(settings=make_settings(onezone__max_token_size=200))
    _, auth = await new_user(client)
    _, token = await create_named(client, auth)
    assert len(token) > 200
    await expect_error(await verify(client, token), 400, "tokenTooLarge", limit=200)
    error = await expect_error(
        await client.get(f"{API}/user", headers={"X-Auth-Token": token}), 401, "unauthorized"
    )
    assert error["details"]["authError"]["id"] == "tokenTooLarge"


# --------------------------------------------------------------------- user


async def test_get_user(client: Client) -> None:
    uid, auth = await new_user(client)
    expected = {
        "userId": uid,
        "fullName": "alice",
        "username": "alice",
        "emails": [],
        "linkedAccounts": [],
        "basicAuthEnabled": True,
        "blocked": False,
        "creationTime": NOW,
        "name": "alice",
        "login": "alice",
        "alias": "alice",
        "emailList": [],
    }
    assert await expect(await client.get(f"{API}/user", headers=auth), 200) == expected
    _, token = await create_named(client, auth)
    for headers in [{"X-Auth-Token": token}, {"Authorization": f"Bearer {token}"}]:
        assert await expect(await client.get(f"{API}/user", headers=headers), 200) == expected


async def test_routes_are_in_the_swagger_spec(client: Client) -> None:
    spec = await expect(await client.get("/api/docs/swagger.json"), 200)
    paths = {p: set(ops) for p, ops in spec["paths"].items() if p.startswith(API)}
    assert paths == {
        f"{API}/user/client_tokens": {"post", "get"},
        f"{API}/user/client_tokens/{{token}}": {"delete"},
        f"{API}/user/tokens/named": {"post", "get", "delete"},
        f"{API}/user/tokens/named/name/{{name}}": {"get"},
        f"{API}/tokens/named/{{id}}": {"get", "patch", "delete"},
        f"{API}/tokens/named/{{id}}/status": {"get"},
        f"{API}/tokens/named": {"get"},
        f"{API}/users/{{id}}/tokens/named": {"post", "get", "delete"},
        f"{API}/users/{{id}}/tokens/named/name/{{name}}": {"get"},
        f"{API}/users/{{id}}/tokens/temporary": {"post", "get", "delete"},
        f"{API}/tokens/verify_invite_token": {"post"},
        f"{API}/user/tokens/temporary": {"post", "get", "delete"},
        f"{API}/tokens/examine": {"post"},
        f"{API}/tokens/confine": {"post"},
        f"{API}/tokens/verify_access_token": {"post"},
        f"{API}/tokens/verify_identity_token": {"post"},
        f"{API}/user": {"get"},
    }
    assert spec["paths"][f"{API}/user/client_tokens"]["post"]["deprecated"] is True
    (body,) = [
        p
        for p in spec["paths"][f"{API}/user/tokens/named"]["post"]["parameters"]
        if p["in"] == "body"
    ]
    assert body["schema"] == {"$ref": "#/definitions/OnezoneNamedTokenCreateRequest"}


async def test_custom_metadata_keeps_integers_beyond_64_bits(client: Client) -> None:
    _, auth = await new_user(client)
    huge = {"big": 2**70, "small": -(2**63) - 1, "text": "ż"}
    tid, _ = await create_named(client, auth, customMetadata=huge)
    named = await expect(await client.get(f"{API}/tokens/named/{tid}", headers=auth), 200)
    assert named["metadata"]["custom"] == huge


async def test_verification_without_a_context_gives_the_same_answers(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token seen before whose caveats bind only time skips its context; answers do not change."""
    authority = client.app[AUTHORITY]
    parsed: list[str] = []  # the full path parses (from the parse cache); the short one does not
    original = authority.parse_onezone

    def spy(token: str) -> Any:
        parsed.append(token)
        return original(token)

    monkeypatch.setattr(authority, "parse_onezone", spy)
    uid, auth = await new_user(client)
    token = await create_temporary(client, auth, NOW + 60)
    as_token = {"X-Auth-Token": token}
    for elapsed in (0, 10):
        clock.advance(elapsed)
        assert await expect(await client.get(f"{API}/user", headers=as_token), 200)
        assert await expect(await verify(client, token), 200) == {
            "subject": {"type": "user", "id": uid},
            "ttl": 60 - elapsed,
        }
    # Only the first of the four verifications built a context.
    assert parsed.count(token) == 1
    # Still an access token, not an identity token.
    await expect_error(await verify(client, token, "identity"), 400, "notAnIdentityToken")
    clock.advance(51)
    await expect_error(await client.get(f"{API}/user", headers=as_token), 401, "unauthorized")
    await expect_error(
        await verify(client, token),
        400,
        "tokenCaveatUnverified",
        caveat={"type": "time", "validUntil": NOW + 60},
    )
