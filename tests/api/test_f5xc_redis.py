"""The F5 dialect and /auth/check against a real redis-server that stops or hangs: 503 and 504, never a hang."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.test_utils import TestClient
from app_support import ClientFactory, make_settings
from redis_procs import RedisProcess

from service.appkeys import AUTHORITY, STORE
from service.clock import FakeClock
from service.tokens.caveats import TimeCaveat

Client = TestClient[web.Request, web.Application]
APPS = "/api/config/namespaces/ns1/third_party_applications"


async def _setup(
    make_client: ClientFactory, redis: RedisProcess
) -> tuple[Client, dict[str, str], str]:
    """An app on the real Redis with namespace ns1 and app app1; admin headers and an AuthToken."""
    settings = make_settings(
        redis_url=redis.url, redis__socket_timeout=0.3, redis__connect_timeout=0.3
    )
    client = await make_client(settings=settings)
    admin = await client.app[STORE].users.get_by_name("admin")
    assert admin is not None
    authority = client.app[AUTHORITY]
    access = await authority.mint_temporary(admin.id, "access", [TimeCaveat(authority.now() + 600)])
    headers = {"Authorization": f"APIToken {access.token}"}
    r = await client.post(
        "/api/web/namespaces", json={"metadata": {"name": "ns1"}}, headers=headers
    )
    assert r.status == 200
    r = await client.post(APPS, json={"metadata": {"name": "app1"}}, headers=headers)
    assert r.status == 200
    r = await client.get(f"{APPS}/app1/generate_token", headers=headers)
    assert r.status == 200
    token: str = (await r.json())["token"]
    r = await client.get("/auth/check", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200
    return client, headers, token


async def _statuses(client: Client, headers: dict[str, str], token: str) -> list[tuple[int, str]]:
    """Status and body of an F5 read, a generate_token and an /auth/check."""
    out = []
    for r in (
        await client.get(f"{APPS}/app1", headers=headers),
        await client.get(f"{APPS}/app1/generate_token", headers=headers),
    ):
        assert r.content_type == "application/json"
        out.append((r.status, await r.json()))
    r = await client.get("/auth/check", headers={"Authorization": f"Bearer {token}"})
    assert r.content_type == "text/plain"
    out.append((r.status, await r.text()))
    return out


async def test_stopped_redis_is_503(
    make_client: ClientFactory, private_redis: RedisProcess, clock: FakeClock
) -> None:
    client, headers, token = await _setup(make_client, private_redis)
    private_redis.kill()
    # Until the revocation feed sees its connection drop, the verification cache (on
    # by default) may still answer what it holds, never past cache.max_staleness.
    clock.advance(make_settings().cache.max_staleness)
    started = time.monotonic()
    results = await _statuses(client, headers, token)
    assert [s for s, _ in results] == [503, 503, 503]
    assert results[0][1] == "service unavailable"
    assert time.monotonic() - started < 5

    # It answers again once Redis is back, by itself; this Redis kept nothing,
    # so the admin's record is gone and the access token no longer authenticates.
    private_redis.start()
    r = await client.get(f"{APPS}/app1", headers=headers)
    assert r.status == 401


async def test_paused_redis_is_504(
    make_client: ClientFactory, private_redis: RedisProcess, clock: FakeClock
) -> None:
    client, headers, token = await _setup(make_client, private_redis)
    private_redis.pause()
    # A paused Redis drops no connection, so the revocation feed stays up: what the
    # verification cache holds (on by default) is served until cache.max_staleness.
    clock.advance(make_settings().cache.max_staleness)
    started = time.monotonic()
    try:
        results = await _statuses(client, headers, token)
    finally:
        private_redis.resume()
    assert [s for s, _ in results] == [504, 504, 504]
    assert results[0][1] == "store did not answer in time"
    assert time.monotonic() - started < 8

    # Once Redis answers again, so does the service.
    r = await client.get(f"{APPS}/app1", headers=headers)
    assert r.status == 200
    r = await client.get("/auth/check", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200
