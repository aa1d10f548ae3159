"""Confinement is inherited: nothing reached through a confined token is less confined than it.

The attacker holds a token confined with data.readonly / ip / a short time and
tries to read unconfined serialized tokens, to mint an unconfined child, to
generate F5 tokens, or to keep a child alive after the parent is gone. These
run on the embedded store (fakeredis); test_confinement_redis.py runs the
lineage scenarios on real Redis servers.
"""

from __future__ import annotations

from typing import Any

import confinement_support as cs
import pymacaroons
import pytest
from app_support import ClientFactory
from onezone_support import (
    API,
    Client,
    caveat_texts,
    create_named,
    expect,
    expect_error,
    new_user,
    verify,
)

from service.appkeys import AUTHORITY, SETTINGS, STORE
from service.authority import inherit
from service.clock import FakeClock
from service.errors import AuthenticationFailed, TokenRevoked
from service.tokens.caveats import (
    DataReadonlyCaveat,
    InterfaceCaveat,
    IpCaveat,
    TimeCaveat,
)

NOW = cs.NOW
CONFINED = [
    {"type": "data.readonly"},
    {"type": "ip", "whitelist": ["127.0.0.1"]},
    {"type": "time", "validUntil": NOW + 60},
]
# The same without data.readonly: a token that may manage, but is confined.
IP_AND_TIME = CONFINED[1:]


async def _auth_error(resp: Any, ident: str, status: int = 401) -> dict[str, Any]:
    error = await expect_error(resp, status, "unauthorized")
    auth_error: dict[str, Any] = error["details"]["authError"]
    assert auth_error["id"] == ident, auth_error
    return auth_error


def _headers(token: str) -> list[dict[str, str]]:
    """Every way a token is presented on the Onezone routes."""
    return [
        {"X-Auth-Token": token},
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"bearer   {token}  "},
    ]


# ------------------------------------------------------- serialized tokens


async def test_confined_token_cannot_read_serialized_tokens(client: Client) -> None:
    _, auth = await new_user(client)
    own_id, own = await create_named(client, auth, "confined", caveats=IP_AND_TIME)
    other_id, _ = await create_named(client, auth, "unconfined")
    for headers in _headers(own):
        for tid in (own_id, other_id):
            resp = await client.get(f"{API}/tokens/named/{tid}", headers=headers)
            await expect_error(resp, 403, "forbidden")
        for name in ("confined", "unconfined"):
            resp = await client.get(f"{API}/user/tokens/named/name/{name}", headers=headers)
            await expect_error(resp, 403, "forbidden")
        listed = await expect(await client.get(f"{API}/user/client_tokens", headers=headers), 200)
        assert listed == {"tokens": []}
        # The ids are not secrets: listing them stays allowed.
        ids = await expect(await client.get(f"{API}/user/tokens/named", headers=headers), 200)
        assert set(ids["tokens"]) == {own_id, other_id}
    # Unknown ids are refused the same way: nothing is learnt by probing.
    resp = await client.get(f"{API}/tokens/named/{'0' * 32}", headers={"X-Auth-Token": own})
    await expect_error(resp, 403, "forbidden")


async def test_data_readonly_token_cannot_read_its_serialized_form(client: Client) -> None:
    _, auth = await new_user(client)
    own_id, own = await create_named(client, auth, "reader", caveats=CONFINED)
    for headers in _headers(own):
        for path in (
            f"/tokens/named/{own_id}",
            "/user/tokens/named/name/reader",
            "/user/client_tokens",
        ):
            resp = await client.get(f"{API}{path}", headers=headers)
            await _auth_error(resp, "tokenCaveatUnverified")


@pytest.mark.parametrize(
    "cavs",
    [
        [],
        [{"type": "time", "validUntil": NOW + 60}],
        [{"type": "interface", "interface": "rest"}],
        [{"type": "time", "validUntil": NOW + 60}, {"type": "interface", "interface": "rest"}],
    ],
)
async def test_unconfined_credentials_read_serialized_tokens(
    client: Client, cavs: list[dict[str, Any]]
) -> None:
    _, auth = await new_user(client)
    tid, token = await create_named(client, auth, "reader", caveats=cavs)
    for headers in (auth, {"X-Auth-Token": token}):
        got = await expect(await client.get(f"{API}/tokens/named/{tid}", headers=headers), 200)
        assert got["token"] == token
        got = await expect(
            await client.get(f"{API}/user/tokens/named/name/reader", headers=headers), 200
        )
        assert got["token"] == token
        listed = await expect(await client.get(f"{API}/user/client_tokens", headers=headers), 200)
        assert listed["tokens"] == [token]


# -------------------------------------------------------------- data access


MANAGEMENT = [
    ("POST", "/user/tokens/named", {"name": "x1"}),
    ("POST", "/user/tokens/temporary", {"caveats": [{"type": "time", "validUntil": NOW + 9}]}),
    ("POST", "/user/client_tokens", None),
    ("GET", "/user/client_tokens", None),
    ("GET", "/user/tokens/named", None),
    ("DELETE", "/user/tokens/named", None),
    ("GET", "/user/tokens/temporary", None),
    ("DELETE", "/user/tokens/temporary", None),
    ("GET", "/user/tokens/named/name/reader", None),
]


@pytest.mark.parametrize(
    "data_caveat",
    [
        {"type": "data.readonly"},
        {"type": "data.path", "whitelist": ["L3NwYWNlL2Rpcg=="]},
        {"type": "data.objectid", "whitelist": ["0000000000"]},
    ],
)
async def test_data_access_tokens_refused_on_management_and_minting(
    client: Client, data_caveat: dict[str, Any]
) -> None:
    _, auth = await new_user(client)
    tid, token = await create_named(client, auth, "reader", caveats=[data_caveat])
    routes = [
        *MANAGEMENT,
        ("GET", f"/tokens/named/{tid}", None),
        ("PATCH", f"/tokens/named/{tid}", {"revoked": True}),
        ("DELETE", f"/tokens/named/{tid}", None),
        ("DELETE", f"/user/client_tokens/{token}", None),
    ]
    for method, path, body in routes:
        resp = await client.request(
            method, f"{API}{path}", json=body, headers={"X-Auth-Token": token}
        )
        error = await _auth_error(resp, "tokenCaveatUnverified")
        assert error["details"]["caveat"] == data_caveat
    # Nothing happened: the token is still there, unrevoked, and nothing was minted.
    got = await expect(await client.get(f"{API}/tokens/named/{tid}", headers=auth), 200)
    assert got["revoked"] is False
    ids = await expect(await client.get(f"{API}/user/tokens/named", headers=auth), 200)
    assert ids["tokens"] == [tid]
    # As in Onezone, a data-access token may still read its user.
    await expect(await client.get(f"{API}/user", headers={"X-Auth-Token": token}), 200)


async def test_data_readonly_refused_on_every_f5_route(client: Client) -> None:
    _, auth = await new_user(client)
    await cs.app_for(client, auth)
    _, editor = await create_named(client, auth, "editor")
    assert await cs.generate(client, editor)
    _, reader = await create_named(client, auth, "reader", caveats=CONFINED)
    for scheme in ("APIToken", "Bearer"):
        headers = {"Authorization": f"{scheme} {reader}"}
        for method, path in [
            ("GET", f"{cs.APPS}/app1/generate_token"),
            ("GET", cs.APPS),
            ("GET", f"{cs.APPS}/app1"),
            ("DELETE", f"{cs.APPS}/app1"),
            ("GET", "/api/web/namespaces"),
        ]:
            resp = await client.request(method, path, headers=headers)
            assert resp.status == 401, await resp.text()
            assert await resp.json() == "not authorized"
    # The application survived.
    assert await cs.generate(client, editor)


# ------------------------------------------------------------- inheritance


async def test_children_carry_every_caveat_of_the_confined_parent(client: Client) -> None:
    _, auth = await new_user(client)
    await cs.app_for(client, auth)
    _, parent = await create_named(
        client,
        auth,
        "confined",
        caveats=[*IP_AND_TIME, {"type": "interface", "interface": "rest"}],
    )
    via = {"Authorization": f"Bearer {parent}"}
    # No caveats asked for: the child still gets the parent's ip and time.
    cid, named = await create_named(client, via, "child")
    assert caveat_texts(named) == ["ip = 127.0.0.1", f"time < {NOW + 60}"]
    got = await expect(await client.get(f"{API}/tokens/named/{cid}", headers=auth), 200)
    assert got["caveats"] == IP_AND_TIME
    temporary = await cs.temporary_via(client, via, NOW + 30)
    assert caveat_texts(temporary) == [f"time < {NOW + 30}", "ip = 127.0.0.1"]
    client_token = await cs.client_token_via(client, via)
    client_ttl = client.app[SETTINGS].onezone.client_token_ttl
    assert caveat_texts(client_token) == [
        f"time < {NOW + client_ttl}",
        "ip = 127.0.0.1",
        f"time < {NOW + 60}",
    ]
    f5 = pymacaroons.Macaroon.deserialize(await cs.generate(client, parent))
    assert [c.caveat_id_bytes.decode() for c in f5.caveats] == [
        "namespace = ns1",
        "app = app1",
        "ip = 127.0.0.1",
        f"time < {NOW + 60}",
    ]
    # A caveat of its own is kept next to the inherited ones; nothing is lost.
    _, narrower = await create_named(
        client, via, "narrower", caveats=[{"type": "ip", "whitelist": ["127.0.0.1/32"]}]
    )
    assert caveat_texts(narrower) == ["ip = 127.0.0.1/32", "ip = 127.0.0.1", f"time < {NOW + 60}"]
    # The children are usable where the parent is, and refused where it is not.
    for token in (named, temporary, client_token):
        await expect(await verify(client, token), 200)
        await expect_error(
            await verify(client, token, peerIp="10.0.0.1"), 400, "tokenCaveatUnverified"
        )


async def test_confined_token_cannot_mint_an_unconfined_child(client: Client) -> None:
    """Whatever is asked for, every child of a confined token is refused outside its confinement."""
    _, auth = await new_user(client)
    _, parent = await create_named(client, auth, "confined", caveats=IP_AND_TIME)
    via = {"X-Auth-Token": parent}
    wide = [{"type": "ip", "whitelist": ["0.0.0.0/0"]}, {"type": "time", "validUntil": NOW + 10**6}]
    _, named = await create_named(client, via, "wide", caveats=wide)
    temporary = await cs.temporary_via(client, via, NOW + 3000)
    children = (named, temporary, await cs.client_token_via(client, via))
    for i, token in enumerate(children):
        await expect_error(
            await verify(client, token, peerIp="10.9.8.7"), 400, "tokenCaveatUnverified"
        )
        # Examine shows what the holder sees: the parent's limits are there.
        examined = await expect(
            await client.post(f"{API}/tokens/examine", json={"token": token}), 200
        )
        assert {"type": "ip", "whitelist": ["127.0.0.1"]} in examined["caveats"]
        assert {"type": "time", "validUntil": NOW + 60} in examined["caveats"]
        # ... and a grandchild is no wider either.
        _, grandchild = await create_named(client, {"X-Auth-Token": token}, f"grandchild{i}")
        await expect_error(
            await verify(client, grandchild, peerIp="10.9.8.7"), 400, "tokenCaveatUnverified"
        )


def test_inherit_keeps_own_then_parents_and_the_earliest_time() -> None:
    ip = IpCaveat(("10.0.0.0/8",))
    parent = (TimeCaveat(NOW + 50), InterfaceCaveat("rest"), ip, TimeCaveat(NOW + 20))
    # The parent's earliest time wins over a later own one; interface is not inherited.
    assert inherit((TimeCaveat(NOW + 100),), parent) == (
        TimeCaveat(NOW + 100),
        ip,
        TimeCaveat(NOW + 20),
    )
    # An own time earlier than the parent's needs no other.
    assert inherit((TimeCaveat(NOW + 10), ip), parent) == (TimeCaveat(NOW + 10), ip)
    assert inherit((), (DataReadonlyCaveat(),)) == (DataReadonlyCaveat(),)
    assert inherit((ip,), ()) == (ip,)


# ---------------------------------------------------------------- lineage


async def test_named_parent_kills_its_descendants(client: Client) -> None:
    await cs.named_parent_kills_its_descendants(client)


async def test_named_parent_kills_its_descendants_through_the_cache(
    make_client: ClientFactory,
) -> None:
    # Children's checks are remembered; the parent's revocation must reach them.
    await cs.named_parent_kills_its_descendants(await make_client(cache__size=1000))


async def test_temporary_parent_dies_with_its_generation(client: Client) -> None:
    await cs.temporary_parent_dies_with_its_generation(client)


async def test_temporary_parent_through_the_cache(make_client: ClientFactory) -> None:
    await cs.temporary_parent_dies_with_its_generation(await make_client(cache__size=1000))


async def test_child_expires_with_its_parent(client: Client, clock: FakeClock) -> None:
    await cs.child_expires_with_its_parent(client, clock)


async def test_lost_link_refuses_f5_child(make_client: ClientFactory) -> None:
    # A lost link is announced to no cache: with the cache off (it is on by default).
    await cs.lost_link_refuses_f5_child(await make_client(cache__size=0))


async def test_chains_are_bounded(client: Client) -> None:
    await cs.chains_are_bounded(client)


async def test_generation_bumped_between_authentication_and_mint(client: Client) -> None:
    """A temporary parent revoked after it authenticated cannot still mint a temporary child."""
    uid, auth = await new_user(client)
    parent = await cs.temporary_via(client, auth, NOW + 600)
    authority = client.app[AUTHORITY]
    verification = await authority.verify_onezone(parent, authority.context())
    await client.app[STORE].temporary.revoke(uid, 3600)
    with pytest.raises(AuthenticationFailed) as err:
        await authority.mint_temporary(
            uid, "access", [TimeCaveat(NOW + 60)], parent=verification.as_parent()
        )
    assert isinstance(err.value.cause, TokenRevoked)
    # A named parent deleted meanwhile: the same for a temporary child that names it.
    _, named = await create_named(client, auth, "gone-soon")
    verification = await authority.verify_onezone(named, authority.context())
    await client.app[STORE].named.delete_all(uid)
    with pytest.raises(AuthenticationFailed) as err:
        await authority.mint_temporary(
            uid, "access", [TimeCaveat(NOW + 60)], parent=verification.as_parent()
        )
    assert isinstance(err.value.cause, TokenRevoked)


async def test_hundreds_of_concurrent_mints_carry_the_caveats(client: Client) -> None:
    tokens = await cs.concurrent_mints_all_confined(client, 300)
    cs.check_crowd(tokens)


async def test_children_too_large_to_use_are_refused(make_client: ClientFactory) -> None:
    """Own and inherited caveats that do not fit are a 400, never a token that cannot be used."""
    client = await make_client(onezone__max_token_size=900)
    _, auth = await new_user(client)
    many = [f"10.0.{i}.0/24" for i in range(30)]
    _, parent = await create_named(
        client, auth, "wide", caveats=[{"type": "ip", "whitelist": ["127.0.0.1", *many]}]
    )
    assert len(parent) <= 900
    via = {"X-Auth-Token": parent}
    more = [{"type": "ip", "whitelist": ["127.0.0.0/8", *many]}]
    resp = await client.post(
        f"{API}/user/tokens/named", json={"name": "too-big", "caveats": more}, headers=via
    )
    await expect_error(resp, 400, "tokenTooLarge", limit=900)
    resp = await client.post(
        f"{API}/user/tokens/temporary",
        json={"caveats": [{"type": "time", "validUntil": NOW + 60}, *more]},
        headers=via,
    )
    await expect_error(resp, 400, "tokenTooLarge", limit=900)
    # Nothing was recorded for the refused named child.
    ids = await expect(await client.get(f"{API}/user/tokens/named", headers=auth), 200)
    assert len(ids["tokens"]) == 1

    # An AuthToken holds at most 1024 characters: the F5 dialect's 400.
    client = await make_client()
    _, auth = await new_user(client)
    await cs.app_for(client, auth)
    widest = [f"10.{i}.0.0/16" for i in range(90)]
    _, parent = await create_named(
        client, auth, "widest", caveats=[{"type": "ip", "whitelist": ["127.0.0.1", *widest]}]
    )
    resp = await client.get(f"{cs.APPS}/app1/generate_token", headers=cs.api_token(parent))
    assert resp.status == 400, await resp.text()
    assert "do not fit" in await resp.json()


@pytest.mark.parametrize("parent_kind", ["named", "temporary"])
async def test_no_child_survives_a_concurrent_revocation(client: Client, parent_kind: str) -> None:
    minted = await cs.no_child_survives_a_concurrent_revocation(client, parent_kind)
    assert minted > 0


async def test_a_hand_appended_far_future_time_is_inherited_as_the_latest_expiry(
    client: Client,
) -> None:
    """A parent's time beyond 9999-12-31 (appended without the key) still gives children."""
    from service.store.store import MAX_EXPIRY
    from service.tokens import encoding

    _, auth = await new_user(client)
    _, token = await create_named(client, auth, "parent")
    m = pymacaroons.Macaroon.deserialize(encoding.onedata_unescape(token))
    m.add_first_party_caveat(f"time < {MAX_EXPIRY * 10}")
    parent = encoding.onedata_escape(m.serialize().rstrip("="))
    headers = {"X-Auth-Token": parent}
    resp = await client.post(f"{API}/user/tokens/named", json={"name": "child"}, headers=headers)
    child = (await expect(resp, 201))["token"]
    assert f"time < {MAX_EXPIRY}" in caveat_texts(child)
    resp = await client.post(
        f"{API}/user/tokens/temporary",
        json={"caveats": [{"type": "time", "validUntil": NOW + 60}]},
        headers=headers,
    )
    assert f"time < {NOW + 60}" in caveat_texts((await expect(resp, 201))["token"])


@pytest.mark.parametrize("parent_kind", ["named", "temporary"])
async def test_what_an_admins_token_mints_for_a_user_dies_with_it(
    client: Client, parent_kind: str
) -> None:
    await cs.what_an_admins_token_mints_dies_with_it(client, parent_kind)


async def test_one_foreign_hop(client: Client) -> None:
    await cs.one_foreign_hop(client)


async def test_no_foreign_child_survives_a_concurrent_revocation(client: Client) -> None:
    assert await cs.no_foreign_child_survives_a_concurrent_revocation(client) > 0


@pytest.mark.parametrize("parent_kind", ["named", "temporary"])
async def test_a_foreign_child_reads_nothing_that_outlives_the_admins_token(
    client: Client, parent_kind: str
) -> None:
    await cs.what_a_foreign_child_reads_dies_with_the_admins_token(client, parent_kind)


async def test_a_revocation_during_the_foreign_check_is_not_cached_over(
    make_client: ClientFactory,
) -> None:
    client = await make_client(cache__size=1000)
    await cs.a_revocation_during_the_foreign_check_is_not_cached_over(client)
