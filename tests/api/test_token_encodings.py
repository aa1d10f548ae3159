"""Tokens are recognised by what they are: every encoding of ours verifies on every route,
nothing foreign does, and a token's (unsigned) location must be the configured one."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pymacaroons
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from app_support import ClientFactory
from onezone_support import (
    API,
    SEED_TOKEN,
    create_named,
    expect,
    expect_error,
    new_user,
    verify,
)
from test_authz import CHECK, bearer, f5_token, refusal, verified_without_request

from service.appkeys import AUTHORITY
from service.tokens import encoding
from service.tokens.identifiers import OnezoneIdentifier
from service.tokens.macaroon import Macaroon, mint, new_macaroon

Client = TestClient[web.Request, web.Application]


def spellings(token: str) -> dict[str, str]:
    """Every text form of a token: V1/V2, both alphabets, padded or not, escaped or not,
    and what pymacaroons writes for it as V1 and as V2."""
    m = encoding.deserialize_onezone(token, 1 << 20)
    out: dict[str, str] = {}
    for version, raw in (("v1", encoding.encode_v1(m)), ("v2", encoding.encode_v2(m))):
        std = base64.b64encode(raw).decode()
        url = base64.urlsafe_b64encode(raw).decode()
        for alphabet, text in (
            ("std", std),
            ("std-unpadded", std.rstrip("=")),
            ("url", url),
            ("url-unpadded", url.rstrip("=")),
        ):
            out[f"{version}-{alphabet}"] = text
            out[f"{version}-{alphabet}-escaped"] = encoding.onedata_escape(text)
    read = pymacaroons.Macaroon.deserialize(encoding.serialize_v1(m))
    for version in (pymacaroons.MACAROON_V1, pymacaroons.MACAROON_V2):
        again = pymacaroons.Macaroon(
            location=read.location,
            identifier=read.identifier_bytes,
            caveats=read.caveats,
            signature=read.signature,
            version=version,
        )
        out[f"pymacaroons-v{version}"] = again.serialize()
    # Some coincide (no padding needed, no character to escape, pymacaroons' V1
    # and ours are the same bytes): each text once.
    unique = {text: name for name, text in reversed(out.items())}
    assert {fmt for fmt, _ in map(encoding.deserialize_any, unique)} >= {"v1", "v2"}
    return {name: text for text, name in unique.items()}


def relocated(token: str, location: str) -> Macaroon:
    """The same macaroon under another location: the signature does not cover it."""
    m = encoding.deserialize_onezone(token, 1 << 20)
    return new_macaroon(location, m.identifier, m.caveats, m.signature)


async def onezone_token(client: Client) -> tuple[str, str, dict[str, str]]:
    uid, auth = await new_user(client)
    _, token = await create_named(client, auth)
    return uid, token, auth


async def test_onezone_tokens_in_every_encoding_verify_on_every_route(client: Client) -> None:
    uid, token, _ = await onezone_token(client)
    for name, text in spellings(token).items():
        for _ in range(2):  # also once parsed and remembered
            r = await client.get(CHECK, headers=bearer(text))
            assert r.status == 200, (name, await r.text())
            assert r.headers["X-Auth-Subject"] == f"usr-{uid}"
            body = await expect(await verify(client, text), 200)
            assert body["subject"] == {"type": "user", "id": uid}, name
            r = await client.get(f"{API}/user", headers={"X-Auth-Token": text})
            assert r.status == 200, (name, await r.text())
            assert (await client.get(f"{API}/user", headers=bearer(text))).status == 200
            examined = await expect(
                await client.post(f"{API}/tokens/examine", json={"token": text}), 200
            )
            assert examined["subject"] == {"type": "user", "id": uid}


async def test_f5_tokens_in_every_encoding_pass_the_check_and_nothing_else(
    client: Client,
) -> None:
    uid, _ = await new_user(client)
    token = await f5_token(client, uid)
    for name, text in spellings(token).items():
        r = await client.get(CHECK, headers=bearer(text))
        assert r.status == 200, (name, await r.text())
        assert (r.headers["X-Auth-Namespace"], r.headers["X-Auth-App"]) == ("ns1", "app1")
        # An F5 token is no Onezone access token, whatever it looks like.
        await expect_error(await verify(client, text), 400, "badToken")
        assert (await client.get(f"{API}/user", headers={"X-Auth-Token": text})).status == 401
        error = await expect_error(
            await client.post(f"{API}/tokens/examine", json={"token": text}), 400, "badValueToken"
        )
        assert error["details"]["tokenError"]["id"] == "badToken"


async def test_many_concurrent_checks_in_mixed_encodings(client: Client) -> None:
    uid, token, _ = await onezone_token(client)
    f5 = await f5_token(client, uid)
    texts = [*spellings(token).values(), *spellings(f5).values()]

    async def one(i: int) -> int:
        r = await client.get(CHECK, headers=bearer(texts[i % len(texts)]))
        await r.read()
        return r.status

    assert await asyncio.gather(*(one(i) for i in range(400))) == [200] * 400


def foreign_macaroons() -> dict[str, str]:
    tid = "0123456789abcdef0123456789abcdef"
    out: dict[str, str] = {}
    for location, identifier in (
        ("onezone", "keyid"),
        ("http://example.org/", "keyid"),
        ("onezone", "2/nmd/usr-alice/act/not-a-token-id"),
        ("f5xc", "f5/1/ns1/app1/x/usr-alice/" + tid),
        ("onezone", "JUq4aKVBRMuE7qKlsPTyM_IKxzXesVuQR0c_2Wi9qY4"),
        ("onezone", "2/nmd/usr-alice/act/" + tid + "/more"),
    ):
        for version in (pymacaroons.MACAROON_V1, pymacaroons.MACAROON_V2):
            m = pymacaroons.Macaroon(
                location=location, identifier=identifier, key="a foreign key", version=version
            )
            m.add_first_party_caveat("time < 2000000000")
            out[f"{identifier!r}@{location}-v{version}"] = m.serialize()
    out["seed"] = SEED_TOKEN
    return out


async def test_foreign_macaroons_are_refused_everywhere(client: Client) -> None:
    await new_user(client)
    for name, text in foreign_macaroons().items():
        escaped = encoding.onedata_escape(text) if name != "seed" else SEED_TOKEN
        for candidate in (text, escaped):
            reason = await refusal(await client.get(CHECK, headers=bearer(candidate)), 401)
            assert reason == "bad token identifier", (name, reason)
            await expect_error(await verify(client, candidate), 400, "badToken")
            r = await client.get(f"{API}/user", headers={"X-Auth-Token": candidate})
            error = await expect_error(r, 401, "unauthorized")
            assert error["details"]["authError"]["id"] == "badToken"
            error = await expect_error(
                await client.post(f"{API}/tokens/examine", json={"token": candidate}),
                400,
                "badValueToken",
            )
            assert error["details"]["tokenError"]["id"] == "badToken"


async def test_ours_in_form_but_forged_is_refused(client: Client) -> None:
    uid, _ = await new_user(client)
    ident = OnezoneIdentifier("named", None, uid, "access", "0123456789abcdef0123456789abcdef")
    forged = encoding.serialize_onezone(mint(b"\x07" * 32, ident.encode().encode(), "onezone", []))
    await refusal(await client.get(CHECK, headers=bearer(forged)), 401)
    await expect_error(await verify(client, forged), 400, "tokenInvalid")
    assert (await client.get(f"{API}/user", headers={"X-Auth-Token": forged})).status == 401


@pytest.mark.parametrize("location", ["evil.example", "", "onezone.", "ONEZONE", "f5xc"])
async def test_changed_location_is_refused_everywhere_even_once_remembered(
    client: Client, location: str
) -> None:
    _, token, _ = await onezone_token(client)
    authority = client.app[AUTHORITY]
    # Used, parsed, remembered (clock-only: no caveats) and cached in the store's cache.
    for _ in range(3):
        assert (await client.get(CHECK, headers=bearer(token))).status == 200
        await expect(await verify(client, token), 200)
        assert (await client.get(f"{API}/user", headers={"X-Auth-Token": token})).status == 200
    assert await verified_without_request(authority, token, "access_or_f5")
    moved = relocated(token, location)
    for text in (
        encoding.serialize_onezone(moved),
        encoding.serialize_v2(moved),
        base64.b64encode(encoding.encode_v2(moved)).decode(),
    ):
        for _ in range(2):
            reason = await refusal(await client.get(CHECK, headers=bearer(text)), 401)
            assert reason == "token issued for another location"
            await expect_error(await verify(client, text), 400, "badToken")
            r = await client.get(f"{API}/user", headers={"X-Auth-Token": text})
            assert (await expect_error(r, 401, "unauthorized"))["details"]["authError"][
                "id"
            ] == "badToken"
            error = await expect_error(
                await client.post(f"{API}/tokens/examine", json={"token": text}),
                400,
                "badValueToken",
            )
            assert error["details"]["tokenError"]["id"] == "badToken"
            assert not await verified_without_request(authority, text, "access_or_f5")
    assert (await client.get(CHECK, headers=bearer(token))).status == 200


async def test_changed_location_of_f5_tokens_is_refused(client: Client) -> None:
    uid, _ = await new_user(client)
    token = await f5_token(client, uid)
    for _ in range(2):
        assert (await client.get(CHECK, headers=bearer(token))).status == 200
    for location in ("onezone", "evil.example", ""):
        moved = encoding.serialize_f5(relocated(token, location))
        reason = await refusal(await client.get(CHECK, headers=bearer(moved)), 401)
        assert reason == "token issued for another location"


async def test_location_is_the_configured_domain(make_client: ClientFactory) -> None:
    client = await make_client(onezone__domain="zone.example")
    _, token, _ = await onezone_token(client)
    assert encoding.deserialize_onezone(token, 4096).location == "zone.example"
    assert (await client.get(CHECK, headers=bearer(token))).status == 200
    examined = await expect(await client.post(f"{API}/tokens/examine", json={"token": token}), 200)
    assert examined["onezoneDomain"] == "zone.example"
    default = encoding.serialize_onezone(relocated(token, "onezone"))
    assert (await client.get(CHECK, headers=bearer(default))).status == 401
    await expect_error(await verify(client, default), 400, "badToken")


async def test_third_party_caveats_are_refused_as_unsupported(client: Client) -> None:
    _, token, _ = await onezone_token(client)
    m = pymacaroons.Macaroon.deserialize(encoding.onedata_unescape(token))
    m.add_third_party_caveat("https://auth.example", "a shared key", "caveat-id-1")
    for text in (m.serialize(), encoding.onedata_escape(m.serialize())):
        error = await expect_error(
            await client.post(f"{API}/tokens/examine", json={"token": text}), 400, "badValueToken"
        )
        nested: dict[str, Any] = error["details"]["tokenError"]
        assert nested["id"] == "tokenCaveatUnknown"
        assert nested["details"] == {"caveat": "caveat-id-1"}
        assert "not supported" in nested["description"]
        reason = await refusal(await client.get(CHECK, headers=bearer(text)), 401)
        assert reason == "third-party caveats are not supported: caveat-id-1"
        await expect_error(await verify(client, text), 400, "tokenCaveatUnknown")
