"""The new Onezone routes on a real redis-server: atomic limits under concurrency, and
a Redis that stops or hangs answered with 503 (`serviceUnavailable` / `timeout`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import ClientResponse
from app_support import ClientFactory, add_user, basic, make_settings
from onezone_support import API, PASSWORD, Client, create_named, expect, expect_error, new_user
from redis_procs import RedisProcess

from service.appkeys import STORE
from service.clock import FakeClock

NOW = 1_700_000_000
TIME = [{"type": "time", "validUntil": NOW + 600}]


async def _setup(
    make_client: ClientFactory, redis_url: str, **overrides: Any
) -> tuple[Client, dict[str, str], str, dict[str, str], str]:
    """An app on real Redis: an admin's Basic header, alice's id and header, a token of hers."""
    settings = make_settings(
        redis_url=redis_url, redis__socket_timeout=0.3, redis__connect_timeout=0.3, **overrides
    )
    client = await make_client(settings=settings)
    await add_user(client, "root", PASSWORD, admin=True)
    alice_id, alice = await new_user(client, "alice")
    tid, _ = await create_named(client, alice, "hers")
    return client, basic("root", PASSWORD), alice_id, alice, tid


async def _every_new_route(
    client: Client, admin: dict[str, str], uid: str, tid: str
) -> list[ClientResponse]:
    users = f"{API}/users/{uid}/tokens"
    return [
        await client.post(f"{users}/named", json={"name": "n2"}, headers=admin),
        await client.get(f"{users}/named", headers=admin),
        await client.get(f"{users}/named/name/hers", headers=admin),
        await client.delete(f"{users}/named", headers=admin),
        await client.post(f"{users}/temporary", json={"caveats": TIME}, headers=admin),
        await client.get(f"{users}/temporary", headers=admin),
        await client.delete(f"{users}/temporary", headers=admin),
        await client.get(f"{API}/tokens/named/{tid}/status", headers=admin),
        await client.get(f"{API}/tokens/named", headers=admin),
    ]


async def test_stopped_redis_is_service_unavailable(
    make_client: ClientFactory, private_redis: RedisProcess, clock: FakeClock
) -> None:
    client, admin, uid, _, tid = await _setup(make_client, private_redis.url)
    await expect(await client.get(f"{API}/tokens/named", headers=admin), 200)
    private_redis.kill()
    clock.advance(make_settings().cache.max_staleness)
    started = time.monotonic()
    for resp in await _every_new_route(client, admin, uid, tid):
        await expect_error(resp, 503, "serviceUnavailable")
    assert time.monotonic() - started < 20
    # Invite verification needs no store: it still answers, and the same.
    resp = await client.post(f"{API}/tokens/verify_invite_token", json={"token": "garbage"})
    await expect_error(resp, 400, "badToken")


async def test_paused_redis_is_timeout(
    make_client: ClientFactory, private_redis: RedisProcess, clock: FakeClock
) -> None:
    client, admin, uid, _, tid = await _setup(make_client, private_redis.url)
    private_redis.pause()
    clock.advance(make_settings().cache.max_staleness)
    started = time.monotonic()
    try:
        for resp in await _every_new_route(client, admin, uid, tid):
            await expect_error(resp, 503, "timeout")
    finally:
        private_redis.resume()
    assert time.monotonic() - started < 30
    await expect(await client.get(f"{API}/tokens/named/{tid}/status", headers=admin), 200)


async def test_concurrent_mints_for_one_user_by_her_and_an_admin(
    make_client: ClientFactory, redis_url: str
) -> None:
    """Hundreds at once, half by an admin: exactly her limit is minted, nothing half-written."""
    client, admin, uid, alice, _ = await _setup(
        make_client, redis_url, rate_limits={"mint": (40, 3600)}
    )
    url = f"{API}/users/{uid}/tokens/named"

    async def mint(i: int) -> int:
        resp = await client.post(url, json={"name": f"c{i}"}, headers=admin if i % 2 else alice)
        await resp.read()
        return resp.status

    statuses = await asyncio.gather(*(mint(i) for i in range(300)))
    # One was minted by _setup.
    assert statuses.count(201) == 39 and statuses.count(429) == 261, sorted(set(statuses))
    listed = (await expect(await client.get(url, headers=admin), 200))["tokens"]
    every = (await expect(await client.get(f"{API}/tokens/named", headers=admin), 200))["tokens"]
    assert len(listed) == 40 and sorted(every) == sorted(listed)
    # Every token is found from its id alone.
    store = client.app[STORE]
    for tid in listed:
        assert await store.named.owner(tid) == uid


async def test_tokens_of_users_from_before_owner_hints_are_found_after_a_restart(
    make_client: ClientFactory, redis_url: str
) -> None:
    """A store whose users predate owner hints gets them at the next start, once."""
    client, admin, _, alice, tid = await _setup(make_client, redis_url)
    store = client.app[STORE]
    status = f"{API}/tokens/named/{tid}/status"
    await expect(await client.get(status, headers=admin), 200)
    hints = [k async for k in store.client.scan_iter(match=store.keys.owner_hints("*"))]
    assert len(hints) == 4  # the bootstrap admin, root, alice, and the marker
    await store.client.delete(*hints)
    await expect_error(await client.get(status, headers=admin), 404, "notFound")
    # Alice still reaches her own token through her own slot.
    await expect(await client.get(status, headers=alice), 200)
    # The next start gives every user a hint, and marks it done.
    await store.users.index_owner_hints()
    await expect(await client.get(status, headers=admin), 200)
    assert await store.client.exists(store.keys.owner_hints_built())
