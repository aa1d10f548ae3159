"""Sentinel failover and a Cluster master stopped mid-run, with real redis-server processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from redis_procs import RedisCluster, RedisSentinel, require_redis

from service.errors import StoreError
from service.settings import RateLimitPolicy, RedisSettings
from service.store import Store

POLICY = RateLimitPolicy("mint", limit=100_000, period=1)


@pytest.fixture
def private_sentinel() -> Iterator[RedisSentinel]:
    require_redis()
    s = RedisSentinel()
    s.start()
    yield s
    s.close()


@pytest.fixture
def private_cluster() -> Iterator[RedisCluster]:
    require_redis()
    c = RedisCluster()
    c.start()
    yield c
    c.close()


async def _until_ok(store: Store, uid: str, deadline: float) -> tuple[int, int]:
    """Mint until it works again; count the failures (always store errors, never others)."""
    failures = 0
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            await store.temporary.mint(uid, POLICY, 600)
            return attempts, failures
        except StoreError:
            failures += 1
            await asyncio.sleep(0.05)
    raise AssertionError(f"no recovery; {failures} failures")


async def test_sentinel_failover(private_sentinel: RedisSentinel) -> None:
    store = Store(RedisSettings(url=private_sentinel.url, socket_timeout=0.5, connect_timeout=0.5))
    await store.start()
    try:
        user = await store.users.create("failover", "pw")
        await store.named.mint(user.id, "a" * 32, "before", {}, None, POLICY)
        old_port = private_sentinel.current_master_port()
        # Let the replica catch up before the master goes away.
        private_sentinel.master.cli("WAIT", "1", "2000")
        private_sentinel.master.kill()
        attempts, failures = await _until_ok(store, user.id, time.monotonic() + 30)
        assert private_sentinel.current_master_port() != old_port
        assert (await store.named.check(user.id, "a" * 32)).status == "ok"
        await store.named.mint(user.id, "b" * 32, "after", {}, None, POLICY)
        assert set(await store.named.names(user.id)) == {"before", "after"}
        print(f"sentinel failover: {failures} failed of {attempts} attempts before recovery")
    finally:
        await store.close()


async def test_cluster_master_stopped_mid_run(private_cluster: RedisCluster) -> None:
    store = Store(RedisSettings(url=private_cluster.url, socket_timeout=0.5, connect_timeout=0.5))
    await store.start()
    try:
        victim = private_cluster.nodes[1]
        users, on_victim = [], 0
        # Users are placed by random ids: make sure some live on the node that dies.
        while (len(users) < 12 or on_victim < 2) and len(users) < 200:
            user = await store.users.create(f"user{len(users)}", "pw")
            users.append(user)
            slot = victim.cli("CLUSTER", "KEYSLOT", f"{{u:{user.id}}}").strip()
            on_victim += int(victim.cli("CLUSTER", "COUNTKEYSINSLOT", slot).strip()) > 0
        assert on_victim >= 2, "no user landed on the node to stop"
        victim.kill()
        outcomes: dict[str, int] = {"ok": 0, "store_error": 0}
        for user in users:
            try:
                await store.temporary.mint(user.id, POLICY, 600)
                outcomes["ok"] += 1
            except StoreError:
                outcomes["store_error"] += 1
        assert outcomes["store_error"] > 0
        victim.start()  # same port and nodes.conf: it takes its slots back, empty
        deadline = time.monotonic() + 30
        while (
            "cluster_state:ok" not in victim.cli("CLUSTER", "INFO") and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.1)
        recovered = await store.users.create("after-restart", "pw")
        await _until_ok(store, recovered.id, time.monotonic() + 30)
        # Nothing half-written: every user either verifies fully or is gone fully.
        for user in users:
            got = await store.users.get(user.id)
            if got is not None:
                assert got.name == user.name and await store.users.id_of(user.name) in {
                    user.id,
                    None,
                }
        print(f"cluster master stopped: {outcomes}")
    finally:
        await store.close()
