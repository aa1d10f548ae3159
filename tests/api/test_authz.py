"""/auth/check, black-box: Envoy ext_authz, nginx auth_request and Traefik ForwardAuth styles."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from app_support import ClientFactory, add_user

from service.appkeys import AUTHORITY, STORE
from service.authority import Accept, Authority
from service.clock import FakeClock
from service.tokens.caveats import (
    AnyCaveat,
    DataReadonlyCaveat,
    InterfaceCaveat,
    IpCaveat,
    ServiceCaveat,
    TimeCaveat,
)
from service.tokens.errors import TokenError
from service.tokens.verifier import Context

Client = TestClient[web.Request, web.Application]
CHECK = "/auth/check"


async def temporary(client: Client, uid: str, *cavs: AnyCaveat, ttl: int = 3600) -> str:
    authority = client.app[AUTHORITY]
    minted = await authority.mint_temporary(
        uid, "access", [TimeCaveat(authority.now() + ttl), *cavs]
    )
    return minted.token


async def named(client: Client, uid: str, name: str, *cavs: AnyCaveat) -> tuple[str, str]:
    minted = await client.app[AUTHORITY].mint_named(uid, name, "access", list(cavs), None)
    return minted.token, minted.token_id


async def f5_token(client: Client, uid: str) -> str:
    """An AuthToken of app `app1` in namespace `ns1`, through the F5 routes as the admin."""
    admin = await client.app[STORE].users.get_by_name("admin")
    assert admin is not None
    headers = {"Authorization": f"APIToken {await temporary(client, admin.id)}"}
    base = "/api/config/namespaces/ns1/third_party_applications"
    await client.post("/api/web/namespaces", json={"metadata": {"name": "ns1"}}, headers=headers)
    await client.post(base, json={"metadata": {"name": "app1"}}, headers=headers)
    r = await client.get(f"{base}/app1/generate_token", headers=headers)
    assert r.status == 200
    token: str = (await r.json())["token"]
    return token


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }


async def status(
    client: Client, headers: dict[str, str], method: str = "GET", path: str = CHECK
) -> int:
    r = await client.request(method, path, headers=headers)
    return r.status


def described_requests(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, Context]]:
    """Record each (token, context) the check describes for `Authority.verify`."""
    authority = client.app[AUTHORITY]
    seen: list[tuple[str, Context]] = []
    original = authority.verify

    async def spy(token: str, accept: Any, describe: Any, about: Any) -> Any:
        def recorded(*args: Any) -> Context:
            ctx: Context = describe(*args)
            seen.append((token, ctx))
            return ctx

        return await original(token, accept, recorded, about)

    monkeypatch.setattr(authority, "verify", spy)
    return seen


class _Described(Exception):
    """The request was described: the token's verification was not taken from memory."""


def _describe(*_: object) -> Context:
    raise _Described


async def verified_without_request(authority: Authority, token: str, accept: Accept) -> bool:
    """Whether `Authority.verify` takes `token` from what it remembers, describing nothing."""
    try:
        await authority.verify(token, accept, _describe, None)
    except (_Described, TokenError):
        return False
    return True


async def refusal(r: Any, code: int) -> str:
    """Assert a refusal's status and one-line plain-text body; return the reason."""
    text: str = await r.text()
    assert r.status == code, text
    assert r.content_type == "text/plain"
    assert r.headers["Cache-Control"] == "no-store"
    assert text.endswith("\n") and text.count("\n") == 1
    return text.strip()


@pytest.fixture
async def alice(client: Client) -> str:
    return await add_user(client, "alice", "alice-password")


async def test_onezone_tokens_from_every_header_and_method(client: Client, alice: str) -> None:
    tmp = await temporary(client, alice)
    nmd, _ = await named(client, alice, "proxy")
    for token in (tmp, nmd):
        for headers in (
            {"Authorization": f"Bearer {token}"},
            {"Authorization": f"APIToken {token}"},
            {"X-Auth-Token": token},
            {"X-F5-Api-Token": token},
        ):
            r = await client.get(CHECK, headers=headers)
            assert r.status == 200, await r.text()
            assert r.headers["X-Auth-Subject"] == f"usr-{alice}"
            assert "X-Auth-Namespace" not in r.headers and "X-Auth-App" not in r.headers
            assert r.headers["Cache-Control"] == "no-store"
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        for path in (CHECK, CHECK + "/", CHECK + "/api/v1/things?x=1"):
            assert await status(client, bearer(tmp), method, path) == 200, (method, path)


async def test_f5_tokens_carry_namespace_and_app(client: Client, alice: str) -> None:
    token = await f5_token(client, alice)
    for headers in (
        bearer(token),
        {"X-F5-Api-Token": token},
        {"Authorization": f"APIToken {token}"},
    ):
        r = await client.post(CHECK + "/orders", headers=headers)
        assert r.status == 200
        assert r.headers["X-Auth-Subject"].startswith("usr-")
        assert r.headers["X-Auth-Namespace"] == "ns1"
        assert r.headers["X-Auth-App"] == "app1"


async def test_token_header_is_configurable(make_client: ClientFactory) -> None:
    client = await make_client(f5__token_header="X-Api-Key")
    uid = await add_user(client, "alice", "pw")
    token = await temporary(client, uid)
    assert await status(client, {"X-Api-Key": token}) == 200
    assert await status(client, {"X-F5-Api-Token": token}) == 401

    client = await make_client(f5__token_header="")
    uid = await add_user(client, "alice", "pw")
    token = await temporary(client, uid)
    assert await status(client, {"X-F5-Api-Token": token}) == 401
    assert await status(client, {"X-Auth-Token": token}) == 200


async def test_missing_token_is_401_with_a_challenge(client: Client) -> None:
    for headers in (
        {},
        {"Authorization": "Basic YWRtaW46YWRtaW4tcGFzc3dvcmQ="},
        {"Authorization": "Bearer "},
    ):
        r = await client.get(CHECK, headers=headers)
        assert await refusal(r, 401) == "no token"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


async def test_invalid_tokens_are_401(client: Client, alice: str) -> None:
    token = await temporary(client, alice)
    f5 = await f5_token(client, alice)
    tampered = token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA" else "BBBBBB")
    for bad in ("garbage", token[:40], tampered, f5[:-8] + "AAAAAAA=", "Ag" + "A" * 40):
        r = await client.get(CHECK, headers=bearer(bad))
        await refusal(r, 401)
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


async def test_oversized_tokens_are_refused_before_decoding(
    client: Client, make_client: ClientFactory, alice: str
) -> None:
    # The kind is known only once the token is read, so the larger of the two
    # limits (onezone.max_token_size, 1024 for F5) bounds what is read at all.
    for oversized in ("Ag" + "=" * 5000, "M" + "%" * 5000, "A" * 4097):
        r = await client.get(CHECK, headers=bearer(oversized))
        assert await refusal(r, 401) == "token larger than 4096 characters"
    f5 = await f5_token(client, alice)
    assert len(f5) <= 1024
    r = await client.get(CHECK, headers=bearer(f5 + "A" * (1025 - len(f5))))
    assert "larger" not in await refusal(r, 401)

    small = await make_client(onezone__max_token_size=512)
    uid = await add_user(small, "alice", "pw")
    r = await small.get(CHECK, headers=bearer("A" * 1025))
    assert await refusal(r, 401) == "token larger than 1024 characters"
    # An Onezone token is held to its own limit once its identifier says what it is.
    big = await temporary(small, uid, *(InterfaceCaveat("rest") for _ in range(20)))
    assert 512 < len(big) <= 1024
    r = await small.get(CHECK, headers=bearer(big))
    assert await refusal(r, 401) == "token larger than 512 characters"
    assert await status(small, bearer(await f5_token(small, uid))) == 200


async def test_revoked_and_expired_tokens_are_401(
    client: Client, alice: str, clock: FakeClock
) -> None:
    store = client.app[STORE]
    token, tid = await named(client, alice, "one")
    assert await status(client, bearer(token)) == 200
    await store.named.update(alice, tid, revoked=True)
    assert await refusal(await client.get(CHECK, headers=bearer(token)), 401) == "token revoked"
    await store.named.update(alice, tid, revoked=False)
    assert await status(client, bearer(token)) == 200
    await store.named.delete(alice, tid)
    assert await status(client, bearer(token)) == 401

    tmp = await temporary(client, alice)
    assert await status(client, bearer(tmp)) == 200
    await store.temporary.revoke(alice, 3600)
    assert await refusal(await client.get(CHECK, headers=bearer(tmp)), 401) == "token revoked"

    short = await temporary(client, alice, ttl=60)
    assert await status(client, bearer(short)) == 200
    clock.advance(61)
    assert await refusal(await client.get(CHECK, headers=bearer(short)), 401) == "token expired"

    f5 = await f5_token(client, alice)
    other, _ = await named(client, alice, "two")
    await store.users.remove("alice")
    assert await status(client, bearer(other)) == 401
    assert await status(client, bearer(f5)) == 200  # minted by the admin, who is still there


async def test_identity_tokens_are_not_access(client: Client, alice: str) -> None:
    authority = client.app[AUTHORITY]
    minted = await authority.mint_temporary(alice, "identity", [TimeCaveat(authority.now() + 60)])
    await refusal(await client.get(CHECK, headers=bearer(minted.token)), 401)


async def test_caveats_against_the_request_are_403(client: Client, alice: str) -> None:
    rest = await temporary(client, alice, InterfaceCaveat("rest"))
    assert await status(client, bearer(rest)) == 200
    oneclient = await temporary(client, alice, InterfaceCaveat("oneclient"))
    r = await client.get(CHECK, headers=bearer(oneclient))
    assert await refusal(r, 403) == "caveat not satisfied: interface = oneclient"
    assert "WWW-Authenticate" not in r.headers
    other_service = await temporary(client, alice, ServiceCaveat(("opw-somewhere",)))
    await refusal(await client.get(CHECK, headers=bearer(other_service)), 403)


async def test_peer_from_trusted_proxy_headers(client: Client, alice: str) -> None:
    # The test client connects from 127.0.0.1, inside the default trusted networks.
    token = await temporary(client, alice, IpCaveat(("10.1.2.3/32",)))
    assert (
        await refusal(await client.get(CHECK, headers=bearer(token)), 403)
        == "caveat not satisfied: ip = 10.1.2.3/32"
    )
    assert await status(client, bearer(token, X_Forwarded_For="10.1.2.3")) == 200
    assert await status(client, bearer(token, X_Forwarded_For="10.1.2.3, 127.0.0.5")) == 200
    assert await status(client, bearer(token, X_Forwarded_For="192.0.2.7")) == 403
    assert await status(client, bearer(token, X_Real_IP="10.1.2.3")) == 200  # nginx
    assert await status(client, bearer(token, X_Real_IP="192.0.2.7")) == 403
    # Both forms in one request: neither is believed, the request is refused.
    for real, forwarded in (("10.1.2.3", "192.0.2.7"), ("192.0.2.7", "10.1.2.3")):
        r = await client.get(
            CHECK, headers=bearer(token, X_Real_IP=real, X_Forwarded_For=forwarded)
        )
        assert (
            await refusal(r, 403) == "conflicting forwarding headers: X-Real-IP and X-Forwarded-For"
        )


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    make_client: ClientFactory,
) -> None:
    client = await make_client(auth_check__trusted_proxies=("10.0.0.0/8",))
    uid = await add_user(client, "alice", "pw")
    only_proxy_client = await temporary(client, uid, IpCaveat(("10.1.2.3/32",)))
    for spoof in ({"X_Forwarded_For": "10.1.2.3"}, {"X_Real_IP": "10.1.2.3"}):
        assert await status(client, bearer(only_proxy_client, **spoof)) == 403
    # The direct peer's address is the one checked.
    loopback = await temporary(client, uid, IpCaveat(("127.0.0.1/32",)))
    assert await status(client, bearer(loopback, X_Forwarded_For="10.1.2.3")) == 200
    assert await status(client, bearer(loopback, X_Real_IP="10.1.2.3")) == 200

    # So are a claimed method: this request's own method counts.
    readonly = await temporary(client, uid, DataReadonlyCaveat())
    assert await status(client, bearer(readonly, X_Forwarded_Method="DELETE")) == 200
    assert await status(client, bearer(readonly, X_Original_Method="POST")) == 200
    assert await status(client, bearer(readonly, X_Forwarded_Method="GET"), "DELETE") == 403


async def test_method_from_each_proxy_style(client: Client, alice: str) -> None:
    readonly = await temporary(client, alice, DataReadonlyCaveat())
    # Traefik ForwardAuth: a GET with X-Forwarded-Method.
    assert await status(client, bearer(readonly, X_Forwarded_Method="GET")) == 200
    assert await status(client, bearer(readonly, X_Forwarded_Method="DELETE")) == 403
    # nginx auth_request (ingress-nginx): X-Original-Method.
    assert await status(client, bearer(readonly, X_Original_Method="HEAD")) == 200
    assert await status(client, bearer(readonly, X_Original_Method="POST")) == 403
    # Envoy ext_authz: the original method and path on the check request itself.
    assert await status(client, bearer(readonly), "GET", CHECK + "/items/1") == 200
    assert await status(client, bearer(readonly), "DELETE", CHECK + "/items/1") == 403
    # The forwarded header describes the original request even when the check is a POST.
    assert await status(client, bearer(readonly, X_Forwarded_Method="GET"), "POST") == 200


async def test_malformed_forwarding_headers_are_denied_not_400(
    client: Client, make_client: ClientFactory, alice: str
) -> None:
    resp = await client.get(CHECK, headers={**bearer(alice), "X-Forwarded-For": "not an address"})
    assert await refusal(resp, 403) == "malformed forwarding header: X-Forwarded-For"
    # The API routes do not read them from a peer outside server.trusted_proxies (default: none).
    resp = await client.get("/api/v3/onezone/user", headers={"X-Forwarded-For": "not an address"})
    assert (await resp.json())["error"]["id"] == "unauthorized"
    # From a trusted one, the same header is a malformed request in the route's dialect.
    trusting = await make_client(server__trusted_proxies=("127.0.0.0/8",))
    resp = await trusting.get("/api/v3/onezone/user", headers={"X-Forwarded-For": "not an address"})
    assert resp.status == 400
    assert (await resp.json())["error"]["id"] == "badMessage"


async def test_clock_only_tokens_need_no_description_of_the_request(
    client: Client, alice: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once seen, a token whose caveats bind only time is checked without the request's
    description; the store and the clock still decide."""
    seen = described_requests(client, monkeypatch)

    def described(token: str) -> int:
        return sum(1 for t, _ in seen if t == token)

    plain = await temporary(client, alice, ttl=60)
    bound = await temporary(client, alice, IpCaveat(("127.0.0.1/32",)))
    f5 = await f5_token(client, alice)
    for _ in range(3):
        for token in (plain, bound, f5):
            assert await status(client, bearer(token)) == 200
    assert described(plain) == 1
    assert described(f5) == 1
    # An ip caveat is checked against every request it is presented with.
    assert described(bound) == 3
    # From another peer (a trusted proxy's X-Real-IP) the bound token is refused at once.
    r = await client.get(CHECK, headers=bearer(bound, X_Real_IP="10.9.9.9"))
    await refusal(r, 403)

    # Revoked while remembered: the store still decides.
    await client.app[STORE].temporary.revoke(alice, 3600)
    assert await refusal(await client.get(CHECK, headers=bearer(plain)), 401) == "token revoked"
    assert await refusal(await client.get(CHECK, headers=bearer(bound)), 401) == "token revoked"
    assert described(plain) == 1
    assert await status(client, bearer(f5)) == 200
    # Expired while remembered: the clock still decides.
    short = await temporary(client, alice, ttl=60)
    for _ in range(2):
        assert await status(client, bearer(short)) == 200
    assert described(short) == 1
    clock.advance(61)
    assert await refusal(await client.get(CHECK, headers=bearer(short)), 401) == "token expired"


async def test_remembered_verification_keeps_token_kinds_apart(client: Client, alice: str) -> None:
    authority = client.app[AUTHORITY]
    access = await temporary(client, alice)
    identity = (
        await authority.mint_temporary(alice, "identity", [TimeCaveat(authority.now() + 60)])
    ).token
    f5 = await f5_token(client, alice)
    for _ in range(2):
        assert await status(client, bearer(access)) == 200
        assert await status(client, bearer(f5)) == 200
        await refusal(await client.get(CHECK, headers=bearer(identity)), 401)
    # Each has been verified once, and is remembered.
    assert await verified_without_request(authority, access, "access_or_f5")
    assert await verified_without_request(authority, f5, "access_or_f5")
    # Not for the routes that take Onezone access tokens only.
    assert not await verified_without_request(authority, f5, "access")
    assert not await verified_without_request(authority, identity, "access_or_f5")
    assert not await verified_without_request(authority, "never seen", "access_or_f5")
    # F5 tokens do not authenticate Onezone calls, however often they are seen.
    for _ in range(2):
        r = await client.get("/api/v3/onezone/user", headers=bearer(f5))
        assert r.status == 401
