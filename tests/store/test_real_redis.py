"""Atomicity, round trips and failures against real redis-server processes."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError
from redis_procs import RedisProcess

from service.errors import (
    BadValue,
    NameOccupied,
    NotFound,
    RateLimited,
    StoreTimeout,
    StoreUnavailable,
)
from service.settings import RateLimitPolicy, RedisSettings
from service.store import Store
from service.store.store import MAX_EXPIRY


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
        user = await a.users.create("hank", "pw")

        async def mint(store: Store, i: int) -> bool:
            try:
                await store.named.mint(user.id, f"{i:032x}", f"t{i}", {}, None, policy)
            except RateLimited:
                return False
            return True

        results = await asyncio.gather(*(mint(a if i % 2 else b, i) for i in range(500)))
        assert sum(results) == 50
        names = await a.named.names(user.id)
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
        user = await store.users.create("ivy", "pw")
        policy = RateLimitPolicy("mint", limit=1000, period=1)

        async def mint(i: int) -> bool:
            try:
                await store.named.mint(user.id, f"{i:032x}", "same", {}, None, policy)
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
        user = await store.users.create("jay", "pw")
        policy = RateLimitPolicy("mint", limit=100, period=60)
        await store.named.mint(user.id, "0" * 32, "warm", {}, None, policy)
        await store.temporary.mint(user.id, policy, 600)
        for mint in (
            lambda: store.named.mint(user.id, "1" * 32, "one", {"type": "access"}, None, policy),
            lambda: store.temporary.mint(user.id, policy, 600),
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


async def test_a_user_removed_while_minting_leaves_no_token_behind(redis_url: str) -> None:
    # A mint either lands before the removal's script (which deletes it with
    # the user) or after it (refused: no user); none survives the removal.
    store = Store(RedisSettings(url=redis_url, pool_size=16))
    await store.start()
    try:
        user = await store.users.create("kim", "pw")
        policy = RateLimitPolicy("mint", limit=100_000, period=1)
        removed = asyncio.Event()
        refused = 0

        async def keep_minting(worker: int) -> None:
            nonlocal refused
            i = 0
            while not removed.is_set() or i < 5:
                try:
                    tid = f"{worker:04x}{i:028x}"
                    await store.named.mint(user.id, tid, f"t{worker}.{i}", {}, None, policy)
                except NotFound:
                    refused += 1
                i += 1

        async def remove() -> None:
            await asyncio.sleep(0.05)
            await store.users.remove("kim")
            removed.set()

        await asyncio.gather(remove(), *(keep_minting(w) for w in range(8)))
        assert refused > 0
        left = [k.decode() async for k in store.client.scan_iter(match=f"ts:{{u:{user.id}}}:*")]
        assert [k for k in left if ":rl:" not in k] == []
        assert not await store.client.exists("ts:username:kim")
        assert not await store.client.sismember("ts:users", user.id)
    finally:
        await store.close()


async def test_creating_and_removing_a_user_take_few_round_trips(
    private_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(RedisSettings(url=private_redis.url))
    await store.start()
    sent: list[object] = []
    original = Connection.send_packed_command

    async def counting(self: Connection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        await original(self, command, check_health)  # type: ignore[arg-type]

    try:
        await store.namespaces.create("ns")
        monkeypatch.setattr(Connection, "send_packed_command", counting)
        user = await store.users.create("lee", "pw")
        assert len(sent) == 2  # the name claimed, then the record, hint and set together
        await store.namespaces.grant("ns", user.id, "viewer")
        policy = RateLimitPolicy("mint", limit=100, period=60)
        for i in range(3):
            await store.named.mint(user.id, f"{i:032x}", f"t{i}", {}, None, policy)
        sent.clear()
        await store.users.remove("lee")
        # The lookup (name, record), the user's slot with the namespaces, the rest.
        assert len(sent) == 4
        monkeypatch.undo()
        assert await store.namespaces.roles("ns") == {}
        assert await store.named.names(user.id) == {}
    finally:
        monkeypatch.undo()
        await store.close()


async def test_outage_gives_store_unavailable_then_recovers_with_noscript(
    private_redis: RedisProcess,
) -> None:
    store = Store(RedisSettings(url=private_redis.url, socket_timeout=0.5, connect_timeout=0.5))
    await store.start()
    try:
        user = await store.users.create("kim", "pw")
        policy = RateLimitPolicy("mint", limit=100, period=60)
        await store.temporary.mint(user.id, policy, 600)

        private_redis.kill()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.temporary.mint(user.id, policy, 600)
        with pytest.raises(StoreUnavailable):
            await store.temporary.check(user.id, 0)
        assert time.monotonic() - started < 3

        private_redis.start()  # empty: no user, and no scripts loaded (NOSCRIPT)
        assert "0" in private_redis.cli(
            "SCRIPT", "EXISTS", store.transport.scripts["check_owner"].sha
        )
        user = await store.users.create("kim", "pw")
        gen, _ = await store.temporary.mint(user.id, policy, 600)
        assert gen == 0
        assert (await store.temporary.check(user.id, 0)).status == "ok"
    finally:
        await store.close()


async def test_paused_redis_gives_store_timeout(private_redis: RedisProcess) -> None:
    store = Store(RedisSettings(url=private_redis.url, socket_timeout=0.3, connect_timeout=0.3))
    await store.start()
    try:
        user = await store.users.create("lee", "pw")
        private_redis.pause()
        started = time.monotonic()
        try:
            with pytest.raises(StoreTimeout):
                await store.temporary.check(user.id, 0)
        finally:
            private_redis.resume()
        assert time.monotonic() - started < 2
        assert (await store.temporary.check(user.id, 0)).status == "ok"
    finally:
        await store.close()


async def _keys(store: Store) -> list[str]:
    return sorted([k.decode() async for k in store.client.scan_iter(match="*", count=1000)])


@pytest.mark.parametrize("expires", [-1, MAX_EXPIRY + 1, 10**14, 2**63 - 1])
async def test_an_expiry_out_of_range_writes_nothing(redis_url: str, expires: int) -> None:
    store = Store(RedisSettings(url=redis_url))
    await store.start()
    try:
        user = await store.users.create("ivy", "pw")
        before = await _keys(store)
        mint = RateLimitPolicy("mint", limit=50, period=3600)
        app_policy = RateLimitPolicy("generate_token_app", limit=50, period=3600)
        with pytest.raises(BadValue):
            await store.named.mint(user.id, "a" * 32, "far", {}, expires, mint)
        await store.namespaces.create("ns")
        await store.apps.create("ns", "app", {"m": 1}, disabled=False)
        before_f5 = await _keys(store)
        with pytest.raises(BadValue):
            await store.apps.mint("ns", "app", user.id, "b" * 32, expires, mint, app_policy)
        assert await _keys(store) == before_f5
        # The scripts refuse it on their own too, before any write: were a caller
        # to skip the check, the script fails whole instead of half-way.
        now_ms = int(store.clock.now() * 1000)
        for ttl in (expires, 60):
            with pytest.raises(ResponseError, match="expiry out of range"):
                await store.transport.script(
                    "mint_named",
                    keys=[
                        store.keys.user_rate(user.id, "mint"),
                        store.keys.user(user.id),
                        store.keys.name_index(user.id),
                        store.keys.named_record(user.id, "c" * 32),
                    ],
                    args=[now_ms, "72000.0", 50, "far", "c" * 32, expires, ttl, "uid", user.id],
                )
            with pytest.raises(ResponseError, match="expiry out of range"):
                await store.transport.script(
                    "mint_f5",
                    keys=[
                        store.keys.app("ns", "app"),
                        store.keys.app_rate("ns", "app"),
                        store.keys.app_record("ns", "app", "d" * 32),
                    ],
                    args=[now_ms, "72000.0", 50, expires, ttl, user.id, "", "0"],
                )
        assert await _keys(store) == before_f5
        assert await _keys(store) != before  # (the namespace and app are there)
        # A mint whose record cannot be written (an odd field list) leaves nothing.
        with pytest.raises(ResponseError, match="wrong number of arguments"):
            await store.transport.script(
                "mint_named",
                keys=[
                    store.keys.user_rate(user.id, "mint"),
                    store.keys.user(user.id),
                    store.keys.name_index(user.id),
                    store.keys.named_record(user.id, "e" * 32),
                ],
                args=[now_ms, "72000.0", 50, "half", "e" * 32, 100, 60, "uid", user.id, "odd"],
            )
        assert await _keys(store) == before_f5
    finally:
        await store.close()


async def test_the_latest_expiry_is_listed_and_deleted(redis_url: str) -> None:
    store = Store(RedisSettings(url=redis_url))
    await store.start()
    try:
        user = await store.users.create("ivy", "pw")
        mint = RateLimitPolicy("mint", limit=50, period=3600)
        await store.named.mint(user.id, "a" * 32, "latest", {}, MAX_EXPIRY, mint)
        await store.named.mint(user.id, "b" * 32, "past", {}, 0, mint)
        assert await store.named.names(user.id) == {"latest": "a" * 32}
        record = await store.named.get(user.id, "a" * 32)
        assert record is not None and record["exp"] == str(MAX_EXPIRY)
        assert await store.named.delete_all(user.id) == 1
        assert await store.named.names(user.id) == {}
        assert await store.named.get(user.id, "a" * 32) is None
    finally:
        await store.close()
