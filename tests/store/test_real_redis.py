"""Atomicity, round trips and failures against real redis-server processes."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio.connection import Connection
from redis_procs import RedisProcess

from service.errors import NameOccupied, RateLimited, StoreTimeout, StoreUnavailable
from service.settings import RateLimitPolicy, RedisSettings
from service.store import Store


def commandstats(server: RedisProcess) -> dict[str, int]:
    calls = {}
    for line in server.cli("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            fields = dict(item.split("=") for item in rest.split(","))
            calls[name.removeprefix("cmdstat_")] = int(fields["calls"])
    return calls


async def test_concurrent_mints_from_two_instances_are_exact(redis_url: str) -> None:
    policy = RateLimitPolicy("mint", limit=50, period=3600)
    a = Store(RedisSettings(url=redis_url, pool_size=32))
    b = Store(RedisSettings(url=redis_url, pool_size=32))
    await a.start()
    await b.start()
    try:
        user = await a.create_user("hank", "pw")

        async def mint(store: Store, i: int) -> bool:
            try:
                await store.mint_named(user.id, f"{i:032x}", f"t{i}", {}, None, policy)
            except RateLimited:
                return False
            return True

        results = await asyncio.gather(*(mint(a if i % 2 else b, i) for i in range(500)))
        assert sum(results) == 50
        names = await a.list_named(user.id)
        assert len(names) == 50
        records = [k async for k in a.client.scan_iter(match=f"ts:{{u:{user.id}}}:tok:*")]
        assert len(records) == 50
    finally:
        await a.close()
        await b.close()


async def test_concurrent_mints_with_one_name_create_one_token(redis_url: str) -> None:
    store = Store(RedisSettings(url=redis_url))
    await store.start()
    try:
        user = await store.create_user("ivy", "pw")
        policy = RateLimitPolicy("mint", limit=1000, period=1)

        async def mint(i: int) -> bool:
            try:
                await store.mint_named(user.id, f"{i:032x}", "same", {}, None, policy)
            except NameOccupied:
                return False
            return True

        assert sum(await asyncio.gather(*(mint(i) for i in range(100)))) == 1
    finally:
        await store.close()


async def test_one_mint_is_one_round_trip(
    private_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(RedisSettings(url=private_redis.url))
    await store.start()
    try:
        user = await store.create_user("jay", "pw")
        policy = RateLimitPolicy("mint", limit=100, period=60)
        await store.mint_named(user.id, "0" * 32, "warm", {}, None, policy)
        await store.mint_temporary(user.id, policy, 600)
        for mint in (
            lambda: store.mint_named(user.id, "1" * 32, "one", {"type": "access"}, None, policy),
            lambda: store.mint_temporary(user.id, policy, 600),
        ):
            sent = []
            original = Connection.send_packed_command

            async def counting(
                self: Connection, command: object, check_health: bool = True
            ) -> None:
                sent.append(command)
                await original(self, command, check_health)  # type: ignore[arg-type]

            private_redis.cli("CONFIG", "RESETSTAT")
            monkeypatch.setattr(Connection, "send_packed_command", counting)
            await mint()
            monkeypatch.undo()
            assert len(sent) == 1
            assert commandstats(private_redis)["evalsha"] == 1
    finally:
        await store.close()


async def test_outage_gives_store_unavailable_then_recovers_with_noscript(
    private_redis: RedisProcess,
) -> None:
    store = Store(RedisSettings(url=private_redis.url, socket_timeout=0.5, connect_timeout=0.5))
    await store.start()
    try:
        user = await store.create_user("kim", "pw")
        policy = RateLimitPolicy("mint", limit=100, period=60)
        await store.mint_temporary(user.id, policy, 600)

        private_redis.kill()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.mint_temporary(user.id, policy, 600)
        with pytest.raises(StoreUnavailable):
            await store.check_temporary(user.id, 0)
        assert time.monotonic() - started < 3

        private_redis.start()  # empty: no user, and no scripts loaded (NOSCRIPT)
        assert "0" in private_redis.cli("SCRIPT", "EXISTS", store.scripts["check_owner"].sha)
        user = await store.create_user("kim", "pw")
        gen, _ = await store.mint_temporary(user.id, policy, 600)
        assert gen == 0
        assert (await store.check_temporary(user.id, 0)).status == "ok"
    finally:
        await store.close()


async def test_paused_redis_gives_store_timeout(private_redis: RedisProcess) -> None:
    store = Store(RedisSettings(url=private_redis.url, socket_timeout=0.3, connect_timeout=0.3))
    await store.start()
    try:
        user = await store.create_user("lee", "pw")
        private_redis.pause()
        started = time.monotonic()
        try:
            with pytest.raises(StoreTimeout):
                await store.check_temporary(user.id, 0)
        finally:
            private_redis.resume()
        assert time.monotonic() - started < 2
        assert (await store.check_temporary(user.id, 0)).status == "ok"
    finally:
        await store.close()
