"""Helpers shared by the Onezone dialect's tests: users, minting, error checks, pymacaroons."""

from __future__ import annotations

from typing import Any

import pymacaroons
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from app_support import KEYRING, add_user, basic
from pymacaroons.exceptions import MacaroonInvalidSignatureException

from service.tokens import encoding
from service.tokens.identifiers import OnezoneIdentifier

API = "/api/v3/onezone"
PASSWORD = "correct horse battery staple"
# The seed's example token (Onezone's swagger, POST /user/client_tokens).
SEED_TOKEN = (
    "MDAxNWxvY2F00aW9uIG9uZXpvbmUKMDAzYmlkZW500aWZpZXIgSlVxNGFLVkJSTXVFN3FLbHNQVHlNX00lLeHpYZXNW"
    "dVFSMGNfMldpOXFZNAowMDFhY2lkIHRpbWUgPCAxNTIyMzU4MzMzCjAwMmZzaWduYXR1cmUgv02ByyOA9802H02rPMB7"
    "Y9mIhDVAjYDmjAUjtrMs13znukK"
)

Client = TestClient[web.Request, web.Application]


async def new_user(client: Client, name: str = "alice") -> tuple[str, dict[str, str]]:
    """A user and its Basic Authorization header."""
    uid = await add_user(client, name, PASSWORD)
    return uid, basic(name, PASSWORD)


async def expect(resp: ClientResponse, status: int) -> Any:
    """The JSON body of a response that must have this status (None when empty)."""
    text = await resp.text()
    assert resp.status == status, text
    if status == 204:
        assert text == ""
        return None
    assert resp.content_type == "application/json"
    return await resp.json()


async def expect_error(
    resp: ClientResponse, status: int, ident: str, **details: Any
) -> dict[str, Any]:
    """Onezone's error object of a response, checked for status, id and some details."""
    body = await expect(resp, status)
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["id"] == ident, error
    assert isinstance(error["description"], str) and error["description"]
    for key, value in details.items():
        assert error["details"][key] == value, error
    return error


async def create_named(
    client: Client, auth: dict[str, str], name: str = "t1", **body: Any
) -> tuple[str, str]:
    """Create a named token; returns (id, serialized token)."""
    resp = await client.post(f"{API}/user/tokens/named", json={"name": name, **body}, headers=auth)
    created = await expect(resp, 201)
    return created["tokenId"], created["token"]


async def create_temporary(
    client: Client, auth: dict[str, str], valid_until: int, **body: Any
) -> str:
    """Create a temporary token with a time caveat (and any other caveats given)."""
    cavs = [{"type": "time", "validUntil": valid_until}, *body.pop("caveats", [])]
    resp = await client.post(
        f"{API}/user/tokens/temporary", json={"caveats": cavs, **body}, headers=auth
    )
    token: str = (await expect(resp, 201))["token"]
    return token


async def verify(client: Client, token: str, kind: str = "access", **body: Any) -> ClientResponse:
    """POST /tokens/verify_<kind>_token."""
    return await client.post(f"{API}/tokens/verify_{kind}_token", json={"token": token, **body})


def pymacaroon(token: str) -> pymacaroons.Macaroon:
    """The token read by pymacaroons, after Onedata's un-escaping."""
    return pymacaroons.Macaroon.deserialize(encoding.onedata_unescape(token))


def verify_with_pymacaroons(token: str, domain: str = "onezone") -> OnezoneIdentifier:
    """Check the token's signature with pymacaroons under its derived root key."""
    m = pymacaroon(token)
    assert m.location == domain
    ident = OnezoneIdentifier.parse(m.identifier)
    key = KEYRING.key_for_token_id(ident.token_id)
    root = KEYRING.root_key(key, "onezone", m.identifier_bytes)
    verifier = pymacaroons.Verifier()
    verifier.satisfy_general(lambda _: True)
    assert verifier.verify(m, root)
    wrong = pymacaroons.Verifier()
    wrong.satisfy_general(lambda _: True)
    try:
        wrong.verify(m, bytes(32))
    except MacaroonInvalidSignatureException:
        pass
    else:
        raise AssertionError("a wrong root key verified")
    return ident


def caveat_texts(token: str) -> list[str]:
    """The first-party caveats of a token, as text."""
    return [c.caveat_id for c in pymacaroon(token).caveats]
