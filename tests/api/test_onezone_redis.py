"""The Onezone dialect on a real redis-server that stops or hangs: 503, never a 500 or a hang."""

from __future__ import annotations

import time

from aiohttp import ClientResponse
from app_support import ClientFactory, make_settings
from onezone_support import (
    API,
    Client,
    create_named,
    expect,
    expect_error,
    new_user,
    verify,
)
from redis_procs import RedisProcess

from service.clock import FakeClock


async def _setup(
    make_client: ClientFactory, redis: RedisProcess
) -> tuple[Client, dict[str, str], str]:
    """An app on the real Redis, a user's Basic header and a named token of theirs."""
    settings = make_settings(
        redis_url=redis.url, redis__socket_timeout=0.3, redis__connect_timeout=0.3
    )
    client = await make_client(settings=settings)
    _, auth = await new_user(client)
    _, token = await create_named(client, auth)
    await expect(await verify(client, token), 200)
    return client, auth, token


async def _requests(client: Client, auth: dict[str, str], token: str) -> list[ClientResponse]:
    """One of each kind of store use: Basic auth, token auth, minting, verifying, listing."""
    return [
        await client.get(f"{API}/user", headers=auth),
        await client.get(f"{API}/user", headers={"X-Auth-Token": token}),
        await client.post(f"{API}/user/tokens/named", json={"name": "t9"}, headers=auth),
        await client.post(
            f"{API}/user/tokens/temporary",
            json={"caveats": [{"type": "time", "validUntil": 1_700_000_060}]},
            headers={"X-Auth-Token": token},
        ),
        await verify(client, token),
        await client.post(f"{API}/user/client_tokens", headers=auth),
    ]


async def test_stopped_redis_is_service_unavailable(
    make_client: ClientFactory, private_redis: RedisProcess, clock: FakeClock
) -> None:
    client, auth, token = await _setup(make_client, private_redis)
    private_redis.kill()
    # Until the revocation feed sees its connection drop, the verification cache (on
    # by default) may still answer what it holds, never past cache.max_staleness.
    clock.advance(make_settings().cache.max_staleness)
    started = time.monotonic()
    for resp in await _requests(client, auth, token):
        error = await expect_error(resp, 503, "serviceUnavailable")
        assert error["description"] == "Service required for this operation is offline."
    assert time.monotonic() - started < 10

    # Back by itself once Redis is; this Redis kept nothing, so the user is gone.
    private_redis.start()
    await expect_error(await client.get(f"{API}/user", headers=auth), 401, "badBasicCredentials")
    await expect_error(await verify(client, token), 400, "tokenInvalid")


async def test_paused_redis_is_timeout(
    make_client: ClientFactory, private_redis: RedisProcess, clock: FakeClock
) -> None:
    client, auth, token = await _setup(make_client, private_redis)
    private_redis.pause()
    # A paused Redis drops no connection, so the revocation feed stays up: what the
    # verification cache holds (on by default) is served until cache.max_staleness.
    clock.advance(make_settings().cache.max_staleness)
    started = time.monotonic()
    try:
        for resp in await _requests(client, auth, token):
            error = await expect_error(resp, 503, "timeout")
            assert error["description"] == "Operation timed out."
    finally:
        private_redis.resume()
    assert time.monotonic() - started < 20
    await expect(await client.get(f"{API}/user", headers=auth), 200)
    await expect(await verify(client, token), 200)
