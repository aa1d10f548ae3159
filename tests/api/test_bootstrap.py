"""The bootstrap admin: created at first start, even when Redis comes up after the service."""

from __future__ import annotations

import asyncio

from app_support import ADMIN_PASSWORD, ClientFactory, basic, make_settings
from redis_procs import RedisProcess

from service.appkeys import STORE


async def test_admin_created_at_first_start(make_client: ClientFactory) -> None:
    client = await make_client()
    store = client.app[STORE]
    assert [u.name for u in await store.users.all()] == ["admin"]
    resp = await client.get("/api/v3/onezone/user", headers=basic("admin", ADMIN_PASSWORD))
    assert resp.status == 200


async def test_admin_created_once_redis_answers(
    make_client: ClientFactory, private_redis: RedisProcess
) -> None:
    private_redis.kill()
    client = await make_client(
        make_settings(
            redis_url=private_redis.url, redis__socket_timeout=0.3, redis__connect_timeout=0.3
        )
    )
    resp = await client.get("/readyz")
    assert resp.status == 503
    private_redis.start()
    store = client.app[STORE]
    for _ in range(100):
        if await store.users.count() == 1:
            break
        await asyncio.sleep(0.1)
    resp = await client.get("/api/v3/onezone/user", headers=basic("admin", ADMIN_PASSWORD))
    assert resp.status == 200
    assert (await client.get("/readyz")).status == 200
