"""Scenarios of "Confinement is inherited", run on fakeredis and on real Redis servers.

Each scenario builds its own users through the HTTP API and attacks as a
token holder would; the test files choose the store.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pymacaroons
from app_support import basic
from onezone_support import (
    API,
    PASSWORD,
    Client,
    caveat_texts,
    create_named,
    expect,
    expect_error,
    new_user,
    verify,
)

from service.appkeys import AUTHORITY, STORE
from service.authority import MAX_ANCESTORS
from service.clock import FakeClock

NOW = 1_700_000_000
APPS = "/api/config/namespaces/ns1/third_party_applications"


def as_token(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


def api_token(token: str) -> dict[str, str]:
    return {"Authorization": f"APIToken {token}"}


async def alive(client: Client, token: str) -> bool:
    """Whether a token of either kind is accepted now (Onezone: verify; F5: /auth/check)."""
    if token.startswith("Ag"):
        r = await client.get("/auth/check", headers={"Authorization": f"Bearer {token}"})
        assert r.status in (200, 401, 403), await r.text()
        return r.status == 200
    r = await verify(client, token)
    body = await r.json()
    assert r.status in (200, 400), body
    return r.status == 200


async def eventually_dead(client: Client, tokens: dict[str, str], bound: float = 5.0) -> None:
    """Every token is refused, at once or (with a cache) within `bound` seconds of real time."""
    deadline = time.monotonic() + bound
    while True:
        living = [name for name, token in tokens.items() if await alive(client, token)]
        if not living:
            return
        assert time.monotonic() < deadline, f"still accepted: {living}"
        await asyncio.sleep(0.02)


async def all_alive(client: Client, tokens: dict[str, str]) -> None:
    living = {name: await alive(client, token) for name, token in tokens.items()}
    assert all(living.values()), living


async def app_for(client: Client, auth: dict[str, str]) -> None:
    """Namespace ns1 with application app1, and the user behind `auth` its editor."""
    admin_token = await create_named_for_admin(client)
    headers = api_token(admin_token)
    r = await client.post(
        "/api/web/namespaces", json={"metadata": {"name": "ns1"}}, headers=headers
    )
    assert r.status == 200, await r.text()
    r = await client.post(APPS, json={"metadata": {"name": "app1"}}, headers=headers)
    assert r.status == 200, await r.text()
    me = await expect(await client.get(f"{API}/user", headers=auth), 200)
    r = await client.put(
        f"/api/web/namespaces/ns1/role_bindings/{me['username']}",
        json={"role": "editor"},
        headers=headers,
    )
    assert r.status == 200, await r.text()


async def create_named_for_admin(client: Client) -> str:
    admin = await client.app[STORE].users.get_by_name("admin")
    assert admin is not None
    minted = await client.app[AUTHORITY].mint_named(admin.id, "admin-token", "access", [], {})
    return minted.token


async def generate(client: Client, token: str) -> str:
    r = await client.get(f"{APPS}/app1/generate_token", headers=api_token(token))
    body = await r.json()
    assert r.status == 200, body
    token_: str = body["token"]
    return token_


async def temporary_via(client: Client, headers: dict[str, str], until: int) -> str:
    resp = await client.post(
        f"{API}/user/tokens/temporary",
        json={"caveats": [{"type": "time", "validUntil": until}]},
        headers=headers,
    )
    token: str = (await expect(resp, 201))["token"]
    return token


async def client_token_via(client: Client, headers: dict[str, str]) -> str:
    token: str = (
        await expect(await client.post(f"{API}/user/client_tokens", headers=headers), 200)
    )["token"]
    return token


# ------------------------------------------------------------------ scenarios


async def named_parent_kills_its_descendants(client: Client) -> None:
    """Revoking (PATCH) or deleting a named parent kills children, grandchildren, every kind."""
    _, auth = await new_user(client, "parent-named")
    await app_for(client, auth)
    pid, parent = await create_named(client, auth, "parent")
    via = as_token(parent)
    _, named = await create_named(client, via, "child")
    temporary = await temporary_via(client, via, NOW + 600)
    family = {
        "named": named,
        "temporary": temporary,
        "client_token": await client_token_via(client, via),
        "f5": await generate(client, parent),
        "named of named": (await create_named(client, as_token(named), "grandchild"))[1],
        "temporary of temporary": await temporary_via(client, as_token(temporary), NOW + 300),
        "named of temporary": (await create_named(client, as_token(temporary), "tmp-child"))[1],
        "f5 of temporary": await generate(client, temporary),
    }
    _, bystander = await create_named(client, auth, "bystander")
    await all_alive(client, {**family, "parent": parent})

    revoke = {"revoked": True}
    await expect(await client.patch(f"{API}/tokens/named/{pid}", json=revoke, headers=auth), 204)
    await eventually_dead(client, {**family, "parent": parent})
    assert await alive(client, bystander)
    # Revoked is a flag in Onezone: clearing it brings the family back.
    unrevoke = {"revoked": False}
    await expect(await client.patch(f"{API}/tokens/named/{pid}", json=unrevoke, headers=auth), 204)
    await all_alive(client, family)

    await expect(await client.delete(f"{API}/tokens/named/{pid}", headers=auth), 204)
    await eventually_dead(client, family)
    assert await alive(client, bystander)


async def temporary_parent_dies_with_its_generation(client: Client) -> None:
    """Revoking all temporary tokens kills every descendant of one, named and F5 included."""
    uid, auth = await new_user(client, "parent-temporary")
    await app_for(client, auth)
    parent = await temporary_via(client, auth, NOW + 900)
    via = as_token(parent)
    nid, named = await create_named(client, via, "child-of-temporary")
    family = {
        "named": named,
        "temporary": await temporary_via(client, via, NOW + 600),
        "client_token": await client_token_via(client, via),
        "f5": await generate(client, parent),
        "named of named": (await create_named(client, as_token(named), "grandchild"))[1],
        "f5 of named": await generate(client, named),
    }
    _, bystander = await create_named(client, auth, "bystander")
    await all_alive(client, {**family, "parent": parent})

    await expect(await client.delete(f"{API}/user/tokens/temporary", headers=auth), 204)
    await eventually_dead(client, {**family, "parent": parent})
    assert await alive(client, bystander)
    # The named child's record is still there: it is its lineage that refuses it.
    assert await client.app[STORE].named.get(uid, nid) is not None
    # A new temporary token of the new generation does not revive anything.
    await temporary_via(client, auth, NOW + 600)
    await eventually_dead(client, family)


async def child_expires_with_its_parent(client: Client, clock: FakeClock) -> None:
    """A child of a time-limited token outlives it neither by caveat nor by record."""
    uid, auth = await new_user(client, "short-lived")
    await app_for(client, auth)
    _, parent = await create_named(
        client, auth, "short", caveats=[{"type": "time", "validUntil": NOW + 100}]
    )
    via = as_token(parent)
    # Asking for more time than the parent has left gets the parent's limit too.
    cid, named = await create_named(
        client, via, "longer", caveats=[{"type": "time", "validUntil": NOW + 10_000}]
    )
    record = await expect(await client.get(f"{API}/tokens/named/{cid}", headers=auth), 200)
    assert {"type": "time", "validUntil": NOW + 100} in record["caveats"]
    store = client.app[STORE]
    ttl = await store.client.ttl(store.keys.named_record(uid, cid))
    assert 0 < ttl <= 100
    family = {
        "named": named,
        "temporary": await temporary_via(client, via, NOW + 3000),
        "client_token": await client_token_via(client, via),
        "f5": await generate(client, parent),
    }
    clock.advance(99)
    await all_alive(client, family)
    clock.advance(1)
    await eventually_dead(client, family)
    # The child's name is free again, as the parent's is.
    names = await expect(await client.get(f"{API}/user/tokens/named", headers=auth), 200)
    assert cid not in names["tokens"]


async def lost_link_refuses_f5_child(client: Client) -> None:
    """An F5 child whose link record is gone is refused, never freed from its parent."""
    uid, auth = await new_user(client, "link-loser")
    await app_for(client, auth)
    _, parent = await create_named(client, auth, "parent")
    token = await generate(client, parent)
    assert await alive(client, token)
    authority = client.app[AUTHORITY]
    _, ident = authority.parse_f5(token)
    store = client.app[STORE]
    # As an eviction would (nothing is announced: run with the cache off).
    assert await store.client.delete(store.keys.link(uid, ident.token_id)) == 1
    await eventually_dead(client, {"f5": token})


async def chains_are_bounded(client: Client) -> None:
    """Each generation of named tokens adds an ancestor; past the bound, minting is refused."""
    _, auth = await new_user(client, "chain")
    _, token = await create_named(client, auth, "gen-0")
    for depth in range(1, MAX_ANCESTORS + 1):
        _, token = await create_named(client, as_token(token), f"gen-{depth}")
    assert await alive(client, token)
    resp = await client.post(
        f"{API}/user/tokens/named", json={"name": "too-deep"}, headers=as_token(token)
    )
    await expect_error(resp, 403, "forbidden")


async def concurrent_mints_all_confined(client: Client, count: int) -> list[Any]:
    """`count` simultaneous mints of each kind through one confined token; all carry its caveats."""
    _, auth = await new_user(client, "crowd")
    await app_for(client, auth)
    confinement = [
        {"type": "ip", "whitelist": ["127.0.0.0/8"]},
        {"type": "time", "validUntil": NOW + 500},
    ]
    _, parent = await create_named(client, auth, "confined", caveats=confinement)
    via = as_token(parent)

    async def named(i: int) -> str:
        return (await create_named(client, via, f"n{i}"))[1]

    async def temporary(i: int) -> str:
        return await temporary_via(client, via, NOW + 400 + i)

    async def f5(_: int) -> str:
        return await generate(client, parent)

    kinds = [named, temporary, f5]
    tokens = await asyncio.gather(*(kinds[i % 3](i) for i in range(count)))
    assert len(set(tokens)) == count
    return tokens


def check_crowd(tokens: list[Any]) -> None:
    """Every token carries the confinement of concurrent_mints_all_confined."""
    for token in tokens:
        if token.startswith("Ag"):
            texts = [
                c.caveat_id_bytes.decode() for c in pymacaroons.Macaroon.deserialize(token).caveats
            ]
        else:
            texts = caveat_texts(token)
        assert "ip = 127.0.0.0/8" in texts, texts
        times = [int(t[7:]) for t in texts if t.startswith("time < ")]
        assert times and min(times) <= NOW + 500, texts


async def no_child_survives_a_concurrent_revocation(client: Client, parent_kind: str) -> int:
    """Children minted as fast as possible while their parent is revoked: none outlives it.

    For a temporary parent this is the race a fresh generation would open: a
    temporary child minted just after the bump would get the new generation.
    Returns how many children were minted before the revocation won.
    """
    uid, auth = await new_user(client, f"racer-{parent_kind}")
    await app_for(client, auth)
    if parent_kind == "named":
        pid, parent = await create_named(client, auth, "parent")
        revoke = ("PATCH", f"{API}/tokens/named/{pid}", {"revoked": True})
    else:
        parent = await temporary_via(client, auth, NOW + 900)
        revoke = ("DELETE", f"{API}/user/tokens/temporary", None)
    via = as_token(parent)

    async def mint(i: int) -> str | None:
        if i % 3 == 0:
            path, body = "/user/tokens/named", {"name": f"race{i}"}
        elif i % 3 == 1:
            path, body = (
                "/user/tokens/temporary",
                {"caveats": [{"type": "time", "validUntil": NOW + 600}]},
            )
        else:
            r = await client.get(f"{APPS}/app1/generate_token", headers=api_token(parent))
            assert r.status in (200, 401), await r.text()
            return (await r.json())["token"] if r.status == 200 else None
        r = await client.post(f"{API}{path}", json=body, headers=via)
        assert r.status in (201, 401), await r.text()
        return (await r.json())["token"] if r.status == 201 else None

    async def revoke_midway() -> None:
        await asyncio.sleep(0)
        method, path, body = revoke
        r = await client.request(method, path, json=body, headers=auth)
        assert r.status == 204, await r.text()

    count = 240
    tasks = [mint(i) for i in range(count // 2)]
    tasks.append(revoke_midway())
    tasks.extend(mint(i) for i in range(count // 2, count))
    results = await asyncio.gather(*tasks)
    children = {f"child{i}": t for i, t in enumerate(results) if isinstance(t, str)}
    await eventually_dead(client, {**children, "parent": parent}, bound=0.0)
    del uid
    return len(children)


async def _admin(client: Client, name: str) -> tuple[str, dict[str, str]]:
    """A user created with --admin, and their Basic header."""
    user = await client.app[STORE].users.create(name, PASSWORD, admin=True)
    return user.id, basic(name, PASSWORD)


async def what_an_admins_token_mints_dies_with_it(client: Client, parent_kind: str) -> None:
    """An admin's token mints for a user: the tokens, and what they mint, die with it.

    Its chain lies in the admin's hash slot, the children's in the user's: each
    child carries a foreign lineage, checked by one more script in the admin's
    slot, and passed on to everything the child mints for its own user.
    """
    _, root = await _admin(client, f"root-{parent_kind}")
    alice_id, alice = await new_user(client, f"alice-{parent_kind}")
    await app_for(client, alice)
    ip = {"type": "ip", "whitelist": ["127.0.0.1"]}
    if parent_kind == "named":
        pid, parent = await create_named(client, root, "admin-token", caveats=[ip])
        revoke = ("PATCH", f"{API}/tokens/named/{pid}", {"revoked": True})
        restore: tuple[str, str, Any] | None = (
            "PATCH",
            f"{API}/tokens/named/{pid}",
            {"revoked": False},
        )
    else:
        parent = await temporary_via(client, root, NOW + 900)
        revoke = ("DELETE", f"{API}/user/tokens/temporary", None)
        restore = None
    users = f"{API}/users/{alice_id}/tokens"
    created = await expect(
        await client.post(f"{users}/named", json={"name": "c1"}, headers=as_token(parent)), 201
    )
    named = created["token"]
    r = await client.post(
        f"{users}/temporary",
        json={"caveats": [{"type": "time", "validUntil": NOW + 600}]},
        headers=as_token(parent),
    )
    for_alice = (await expect(r, 201))["token"]
    # They are alice's, and confined as the admin's token is.
    for token in (named, for_alice):
        verified = await expect(await verify(client, token), 200)
        assert verified["subject"]["id"] == alice_id
        if parent_kind == "named":
            assert "ip = 127.0.0.1" in caveat_texts(token)
    # What they mint for alice carries the same lineage.
    grandchildren = {
        "named grandchild": (await create_named(client, as_token(named), "g1"))[1],
        "temporary grandchild": await temporary_via(client, as_token(for_alice), NOW + 600),
        "F5 grandchild": await generate(client, named),
        "client token grandchild": await client_token_via(client, as_token(named)),
    }
    tokens = {"named": named, "temporary": for_alice, **grandchildren}
    await all_alive(client, tokens)
    status = f"{API}/tokens/named/{created['tokenId']}/status"
    assert await expect(await client.get(status, headers=alice), 200) == {"revoked": False}

    method, path, body = revoke
    await expect(await client.request(method, path, json=body, headers=root), 204)
    await eventually_dead(client, tokens)
    assert await expect(await client.get(status, headers=alice), 200) == {"revoked": True}
    if restore is not None:
        method, path, body = restore
        await expect(await client.request(method, path, json=body, headers=root), 204)
        await all_alive(client, tokens)
        # Deleting the admin's token is final.
        await expect(await client.delete(path, headers=root), 204)
        await eventually_dead(client, tokens)


async def one_foreign_hop(client: Client) -> None:
    """A token minted for a user by another user's token mints for its own subject only."""
    _, root = await _admin(client, "root-hop")
    other_id, other = await _admin(client, "other-admin")
    alice_id, _ = await new_user(client, "alice-hop")
    _, root_token = await create_named(client, root, "root-token")
    r = await client.post(
        f"{API}/users/{other_id}/tokens/named",
        json={"name": "from-root"},
        headers=as_token(root_token),
    )
    foreign = (await expect(r, 201))["token"]
    for kind, body in (
        ("named", {"name": "hop"}),
        ("temporary", {"caveats": [{"type": "time", "validUntil": NOW + 60}]}),
    ):
        r = await client.post(
            f"{API}/users/{alice_id}/tokens/{kind}", json=body, headers=as_token(foreign)
        )
        await expect_error(r, 403, "forbidden")
    # For its own subject it mints, and that dies with root's token too.
    _, own = await create_named(client, as_token(foreign), "own")
    await all_alive(client, {"own": own})
    await expect(await client.delete(f"{API}/user/tokens/named", headers=root), 204)
    await eventually_dead(client, {"foreign": foreign, "own": own})
    del other


async def no_foreign_child_survives_a_concurrent_revocation(client: Client) -> int:
    """Children minted for a user through an admin's token while it is revoked: none survives."""
    _, root = await _admin(client, "root-race")
    alice_id, _ = await new_user(client, "alice-race")
    pid, parent = await create_named(client, root, "parent")
    users = f"{API}/users/{alice_id}/tokens"

    async def mint(i: int) -> str | None:
        if i % 2:
            path, body = f"{users}/named", {"name": f"race{i}"}
        else:
            path, body = (
                f"{users}/temporary",
                {"caveats": [{"type": "time", "validUntil": NOW + 600}]},
            )
        r = await client.post(path, json=body, headers=as_token(parent))
        assert r.status in (201, 401), await r.text()
        return (await r.json())["token"] if r.status == 201 else None

    async def revoke_midway() -> None:
        await asyncio.sleep(0)
        r = await client.patch(f"{API}/tokens/named/{pid}", json={"revoked": True}, headers=root)
        assert r.status == 204, await r.text()

    tasks = [mint(i) for i in range(100)]
    tasks.append(revoke_midway())
    tasks.extend(mint(i) for i in range(100, 200))
    results = await asyncio.gather(*tasks)
    children = {f"child{i}": t for i, t in enumerate(results) if isinstance(t, str)}
    await eventually_dead(client, {**children, "parent": parent}, bound=0.0)
    return len(children)


async def what_a_foreign_child_reads_dies_with_the_admins_token(
    client: Client, parent_kind: str
) -> dict[str, str]:
    """A token minted for a user through an admin's token hands out nothing that outlives it.

    The child is the user's own token, so the user's own routes serve it; an
    unconfined one would read the user's serialized tokens, which no lineage
    ties to the admin's token. Returns what it obtained.
    """
    _, root = await _admin(client, f"root-reads-{parent_kind}")
    alice_id, alice = await new_user(client, f"alice-reads-{parent_kind}")
    # Alice's own token, minted with her password: tied to nothing.
    own_id, _ = await create_named(client, alice, "hers")
    if parent_kind == "named":
        pid, parent = await create_named(client, root, "admin-token")
        revoke = ("DELETE", f"{API}/tokens/named/{pid}")
    else:
        parent = await temporary_via(client, root, NOW + 900)
        revoke = ("DELETE", f"{API}/user/tokens/temporary")
    created = await expect(
        await client.post(
            f"{API}/users/{alice_id}/tokens/named",
            json={"name": "through-root"},
            headers=as_token(parent),
        ),
        201,
    )
    child = as_token(created["token"])
    obtained: dict[str, str] = {}
    for route, url in (
        ("by name", f"{API}/user/tokens/named/name/hers"),
        ("by id", f"{API}/tokens/named/{own_id}"),
        ("client tokens", f"{API}/user/client_tokens"),
    ):
        r = await client.get(url, headers=child)
        assert r.status in (200, 403), await r.text()
        if r.status != 200:
            continue
        body = await r.json()
        found = [body["token"]] if "token" in body else body["tokens"]
        obtained.update({f"{route} {i}": t for i, t in enumerate(found)})
    method, path = revoke
    await expect(await client.request(method, path, headers=root), 204)
    await eventually_dead(client, {"child": created["token"]})
    await eventually_dead(client, obtained)
    return obtained


async def a_revocation_during_the_foreign_check_is_not_cached_over(client: Client) -> None:
    """A child revoked while its foreign lineage is being checked is refused at the next check.

    The check of a child minted through an admin's token takes two round
    trips (the user's slot, then the admin's); a revocation announced between
    them must not leave the first round trip's answer in the cache.
    """
    store = client.app[STORE]
    await asyncio.wait_for(store.feed.subscribed.wait(), 5)
    _, root = await _admin(client, "root-cached")
    alice_id, _ = await new_user(client, "alice-cached")
    _, parent = await create_named(client, root, "admin-token")
    created = await expect(
        await client.post(
            f"{API}/users/{alice_id}/tokens/named",
            json={"name": "child"},
            headers=as_token(parent),
        ),
        201,
    )
    child, child_id = created["token"], created["tokenId"]
    script = store.transport.script
    armed = [True]

    async def revoking_midway(name: str, keys: list[str], args: list[Any]) -> Any:
        if name == "check_lineage" and armed:
            armed.clear()
            await store.named.update(alice_id, child_id, revoked=True)
            # The feed drops what the message names before the check goes on.
            await asyncio.sleep(0.2)
        return await script(name, keys, args)

    store.transport.script = revoking_midway  # type: ignore[method-assign]
    try:
        # Revoked while this check was under way: either answer is fair here.
        await alive(client, child)
    finally:
        del store.transport.script
    assert not armed
    # Revoked before this check began.
    assert not await alive(client, child)
