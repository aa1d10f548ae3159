"""The store's script suite on every backend: embedded memory, a real Redis and a real Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis_procs import RedisCluster, RedisProcess, RedisSentinel

from service.clock import FakeClock
from service.errors import (
    AlreadyExists,
    Conflict,
    NameOccupied,
    NotFound,
    RateLimited,
    RateLimitResult,
)
from service.settings import RateLimitPolicy, RedisSettings
from service.store import Store, User, passwords

MINT = RateLimitPolicy("mint", limit=5, period=60)
APP_USER = RateLimitPolicy("generate_token", limit=3, period=60)
APP = RateLimitPolicy("generate_token_app", limit=100, period=60)
LOGINS = RateLimitPolicy("failed_login", limit=100, period=60)

LONG_LIVED = (":username:", ":users", ":hint:", ":namespaces", ":ns:", "}:user", "}:app")


@pytest.fixture(params=["memory", "redis", "cluster", "sentinel"])
def backend_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "redis":
        server: RedisProcess = request.getfixturevalue("redis_server")
        server.flush()
        return server.url
    if request.param == "sentinel":
        sentinel: RedisSentinel = request.getfixturevalue("redis_sentinel")
        sentinel.flush()
        return sentinel.url
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return cluster.url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(backend_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    s = Store(RedisSettings(url=backend_url), clock=clock)
    await s.start()
    yield s
    await s.close()


async def all_keys(store: Store) -> list[str]:
    client: Any = store.client
    keys = [k.decode() async for k in client.scan_iter(match="ts:*", count=1000)]
    return sorted(set(keys))


async def _password_holds(store: Store, name: str, password: str) -> User | None:
    """The user, if `password` is theirs: a Basic login's lookup and check, under its limits."""

    async def check(user: User | None) -> bool:
        return user is not None and await passwords.check_password_async(
            password, user.password_hash
        )

    login = await store.logins.attempt(
        name, "ip", LOGINS, None, lambda: store.users.get_by_name(name), check
    )
    return login.found if login.accepted else None


async def test_user_lifecycle(store: Store) -> None:
    alice = await store.users.create("alice", "s3cret")
    with pytest.raises(AlreadyExists):
        await store.users.create("alice", "other")
    assert (await _password_holds(store, "alice", "s3cret")) == alice
    assert await _password_holds(store, "alice", "wrong") is None
    assert await _password_holds(store, "nobody", "s3cret") is None
    await store.users.set_password("alice", "new")
    assert await _password_holds(store, "alice", "s3cret") is None
    assert (await _password_holds(store, "alice", "new")) is not None
    assert [u.name for u in await store.users.all()] == ["alice"]
    await store.users.remove("alice")
    assert await store.users.all() == []
    with pytest.raises(NotFound):
        await store.users.remove("alice")


async def test_named_token_records(store: Store, clock: FakeClock) -> None:
    user = await store.users.create("bob", "pw")
    exp = int(clock.now()) + 100
    result = await store.named.mint(user.id, "a" * 32, "first", {"type": "access"}, exp, MINT)
    assert result.allowed and result.remaining == MINT.limit - 1
    with pytest.raises(NameOccupied):
        await store.named.mint(user.id, "b" * 32, "first", {"type": "access"}, exp, MINT)
    assert await store.named.get(user.id, "b" * 32) is None
    assert await store.named.names(user.id) == {"first": "a" * 32}
    assert (await store.named.check(user.id, "a" * 32)).status == "ok"

    await store.named.update(user.id, "a" * 32, revoked=True)
    assert (await store.named.check(user.id, "a" * 32)).status == "revoked"
    await store.named.update(user.id, "a" * 32, revoked=False, custom='{"k": 1}')
    assert (await store.named.check(user.id, "a" * 32)).status == "ok"
    assert (await store.named.get(user.id, "a" * 32) or {})["custom"] == '{"k": 1}'

    await store.named.delete(user.id, "a" * 32)
    assert (await store.named.check(user.id, "a" * 32)).status == "norecord"
    assert await store.named.names(user.id) == {}
    with pytest.raises(NotFound):
        await store.named.update(user.id, "a" * 32, revoked=True)

    # An expired token's name can be used again.
    await store.named.mint(user.id, "c" * 32, "again", {}, exp, MINT)
    clock.advance(101)
    await store.named.mint(user.id, "d" * 32, "again", {}, exp + 200, MINT)
    assert await store.named.names(user.id) == {"again": "d" * 32}

    assert await store.named.delete_all(user.id) >= 1
    assert (await store.named.check(user.id, "d" * 32)).status == "norecord"


async def test_mint_refused_for_missing_user(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.named.mint("0" * 32, "a" * 32, "x", {}, None, MINT)
    with pytest.raises(NotFound):
        await store.temporary.mint("0" * 32, MINT, 600)


async def test_refused_mint_records_nothing(store: Store, clock: FakeClock) -> None:
    user = await store.users.create("carol", "pw")
    exp = int(clock.now()) + 60
    for i in range(MINT.limit):
        await store.named.mint(user.id, f"{i:032x}", f"t{i}", {}, exp, MINT)
    with pytest.raises(RateLimited) as err:
        await store.named.mint(user.id, "f" * 32, "over", {}, exp, MINT)
    assert err.value.result.retry_after > 0
    assert await store.named.get(user.id, "f" * 32) is None
    assert "over" not in await store.named.names(user.id)


async def test_temporary_generation(store: Store) -> None:
    user = await store.users.create("dave", "pw")
    gen, _ = await store.temporary.mint(user.id, MINT, 600)
    assert gen == 0
    assert (await store.temporary.check(user.id, 0)).status == "ok"
    assert await store.temporary.revoke(user.id, 600) == 1
    assert (await store.temporary.check(user.id, 0)).status == "revoked"
    gen, _ = await store.temporary.mint(user.id, MINT, 600)
    assert gen == 1 and await store.temporary.generation(user.id) == 1
    await store.users.remove("dave")
    assert (await store.temporary.check(user.id, 1)).status == "nouser"


async def test_apps_and_f5_tokens(store: Store, clock: FakeClock) -> None:
    user = await store.users.create("erin", "pw")
    await store.namespaces.create("ns1")
    with pytest.raises(AlreadyExists):
        await store.namespaces.create("ns1")
    await store.namespaces.grant("ns1", user.id, "editor")
    assert await store.namespaces.role_of("ns1", user.id) == "editor"

    doc = {"metadata": {"name": "app1"}}
    await store.apps.create("ns1", "app1", doc, disabled=False)
    with pytest.raises(AlreadyExists):
        await store.apps.create("ns1", "app1", doc, disabled=False)
    assert await store.apps.get("ns1", "app1") == doc
    assert await store.apps.all("ns1") == [doc]

    exp = int(clock.now()) + 3600
    gen, result = await store.apps.mint("ns1", "app1", user.id, "1" * 32, exp, APP_USER, APP)
    assert gen == 0 and result.remaining == APP_USER.limit - 1
    assert (await store.apps.check("ns1", "app1", 0, "1" * 32, user.id)).status == "ok"
    assert (await store.apps.check("ns1", "app1", 0, "2" * 32, user.id)).status == "norecord"
    for i in range(APP_USER.limit - 1):
        await store.apps.mint("ns1", "app1", user.id, f"{i + 2:032x}", exp, APP_USER, APP)
    with pytest.raises(RateLimited):
        await store.apps.mint("ns1", "app1", user.id, "9" * 32, exp, APP_USER, APP)
    assert (await store.apps.check("ns1", "app1", 0, "9" * 32, user.id)).status == "norecord"

    # Disabling kills its tokens for good, even once enabled again.
    await store.apps.replace("ns1", "app1", doc, disabled=True)
    assert (await store.apps.check("ns1", "app1", 0, "1" * 32, user.id)).status == "disabled"
    with pytest.raises(Conflict):
        await store.apps.mint("ns1", "app1", user.id, "8" * 32, exp, APP_USER, APP)
    await store.apps.replace("ns1", "app1", doc, disabled=False)
    assert (await store.apps.check("ns1", "app1", 0, "1" * 32, user.id)).status == "revoked"

    # Deleting and re-creating never brings old tokens back.
    clock.advance(61)
    gen, _ = await store.apps.mint("ns1", "app1", user.id, "7" * 32, exp, APP_USER, APP)
    await store.apps.delete("ns1", "app1")
    assert (await store.apps.check("ns1", "app1", gen, "7" * 32, user.id)).status == "noapp"
    with pytest.raises(NotFound):
        await store.apps.mint("ns1", "app1", user.id, "6" * 32, exp, APP_USER, APP)
    await store.apps.create("ns1", "app1", doc, disabled=False)
    assert (await store.apps.check("ns1", "app1", gen, "7" * 32, user.id)).status == "revoked"
    with pytest.raises(NotFound):
        await store.apps.delete("ns1", "nope")

    await store.namespaces.delete("ns1")
    assert await store.namespaces.names() == []
    assert await store.apps.get("ns1", "app1") is None


async def test_every_key_expires_except_long_lived(store: Store, clock: FakeClock) -> None:
    user = await store.users.create("frank", "pw")
    exp = int(clock.now()) + 600
    await store.named.mint(user.id, "a" * 32, "n1", {}, exp, MINT)
    await store.temporary.mint(user.id, MINT, 600)
    await store.temporary.revoke(user.id, 600)
    await _login(store, MINT, "127.0.0.1", MINT, name="frank")
    await store.namespaces.create("ns")
    await store.namespaces.grant("ns", user.id, "viewer")
    await store.apps.create("ns", "app", {"m": 1}, disabled=False)
    await store.apps.mint("ns", "app", user.id, "b" * 32, exp, APP_USER, APP)
    await store.apps.create("ns", "gone", {"m": 1}, disabled=False)
    await store.apps.mint("ns", "gone", user.id, "c" * 32, exp, APP_USER, APP)
    await store.apps.delete("ns", "gone")

    client: Any = store.client
    keys = await all_keys(store)
    assert len(keys) > 8
    for key in keys:
        ttl = await client.ttl(key)
        if any(mark in key for mark in LONG_LIVED) and not key.endswith("gone}:app"):
            continue
        assert ttl > 0, f"{key} has no TTL"


async def _nobody() -> None:
    return None


async def _login(
    store: Store,
    policy: RateLimitPolicy,
    ip: str = "ip",
    ip_policy: RateLimitPolicy | None = None,
    *,
    name: str = "x",
    good: bool = False,
) -> RateLimitResult:
    """One login attempt (the password `good` or not); the counters' verdict on it."""

    async def check(_: None) -> bool:
        return good

    try:
        login = await store.logins.attempt(name, ip, policy, ip_policy, _nobody, check)
    except RateLimited as refused:
        return refused.result
    return login.rate


async def test_gcra_refill_retry_after_and_reset(store: Store, clock: FakeClock) -> None:
    policy = RateLimitPolicy("failed_login", limit=4, period=60)  # one every 15 s, burst 4
    results = [await _login(store, policy) for _ in range(4)]
    assert [r.remaining for r in results] == [3, 2, 1, 0]
    assert results[-1].reset_after == pytest.approx(60)
    refused = await _login(store, policy)
    assert not refused.allowed and refused.retry_after == pytest.approx(15)
    clock.advance(14.9)
    assert not (await _login(store, policy)).allowed
    clock.advance(0.1)
    allowed = await _login(store, policy)
    assert allowed.allowed and allowed.remaining == 0
    clock.advance(60)
    refilled = await _login(store, policy)
    assert refilled.remaining == 3
    # Other ips and users have their own counters.
    assert (await _login(store, policy, "other-ip")).remaining == 3


async def test_login_release_gives_the_attempt_back(store: Store) -> None:
    policy = RateLimitPolicy("failed_login", limit=2, period=60)
    ip_policy = RateLimitPolicy("failed_login_ip", limit=100, period=60)
    for _ in range(10):
        assert (await _login(store, policy, "ip", ip_policy, good=True)).allowed
    kept = [await _login(store, policy) for _ in range(3)]
    assert [r.allowed for r in kept] == [True, True, False]


async def test_login_refused_by_one_counter_gives_the_other_back(store: Store) -> None:
    policy = RateLimitPolicy("failed_login", limit=1, period=60)
    ip_policy = RateLimitPolicy("failed_login_ip", limit=3, period=60)
    assert (await _login(store, policy, "ip", ip_policy, name="a")).allowed
    for _ in range(5):  # user a is locked out; the ip's counter is not spent by it
        refused = await _login(store, policy, "ip", ip_policy, name="a")
        assert not refused.allowed and refused.policy == "failed_login"
    await asyncio.sleep(0.01)
    assert (await _login(store, policy, "ip", ip_policy, name="b")).allowed
    assert (await _login(store, policy, "ip", ip_policy, name="c")).allowed
    refused = await _login(store, policy, "ip", ip_policy, name="d")
    assert not refused.allowed and refused.policy == "failed_login_ip"


@pytest.mark.parametrize("kind", ["redis", "sentinel", "cluster"])
async def test_revocation_feed_invalidates_other_instance(
    kind: str, request: pytest.FixtureRequest
) -> None:
    # (The embedded store is private to one process: nothing to propagate.)
    server: RedisProcess | RedisSentinel | RedisCluster = request.getfixturevalue(
        {"redis": "redis_server", "sentinel": "redis_sentinel", "cluster": "redis_cluster"}[kind]
    )
    server.flush()
    backend_url = server.url
    a = Store(RedisSettings(url=backend_url))
    b = Store(RedisSettings(url=backend_url), cache_size=1000, cache_max_staleness=30.0)
    await a.start()
    await b.start()
    try:
        await asyncio.wait_for(b.feed.subscribed.wait(), 5)
        user = await a.users.create("gina", "pw")
        worst = 0.0
        loop = asyncio.get_running_loop()
        for i in range(20):
            tid = f"{i:032x}"
            await a.named.mint(user.id, tid, f"n{i}", {}, None, RateLimitPolicy("m", 1000, 1))
            assert (await b.named.check(user.id, tid)).status == "ok"
            assert (await b.named.check(user.id, tid)).status == "ok"  # now cached
            start = loop.time()
            await a.named.update(user.id, tid, revoked=True)
            while (await b.named.check(user.id, tid)).status == "ok":
                assert loop.time() - start < 1.0, "revocation not seen within 1 s"
                await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - start)
        assert b.cache.hits >= 20
        print(f"revocation propagation: worst {worst * 1000:.1f} ms over 20 trials")
    finally:
        await a.close()
        await b.close()


async def test_role_generation_revokes_f5_tokens_with_the_binding(
    store: Store, clock: FakeClock
) -> None:
    user = await store.users.create("gil", "pw")
    await store.namespaces.create("ns1")
    await store.apps.create("ns1", "app1", {"m": 1}, disabled=False)
    await store.namespaces.grant("ns1", user.id, "editor")
    role, gen = await store.namespaces.role_and_generation("ns1", user.id)
    assert (role, gen) == ("editor", "0")
    exp = int(clock.now()) + 3600
    await store.apps.mint("ns1", "app1", user.id, "1" * 32, exp, APP_USER, APP, role_generation=gen)
    await store.apps.mint("ns1", "app1", user.id, "2" * 32, exp, APP_USER, APP)  # as admin
    assert (await store.apps.check("ns1", "app1", 0, "1" * 32, user.id)).status == "ok"
    await store.namespaces.grant("ns1", user.id, "editor")  # no change, no revocation
    assert (await store.apps.check("ns1", "app1", 0, "1" * 32, user.id)).status == "ok"
    await store.namespaces.revoke_role("ns1", user.id)
    assert (await store.apps.check("ns1", "app1", 0, "1" * 32, user.id)).status == "revoked"
    assert (await store.apps.check("ns1", "app1", 0, "2" * 32, user.id)).status == "ok"
    assert await store.namespaces.roles("ns1") == {}
    with pytest.raises(NotFound):
        await store.namespaces.revoke_role("ns1", user.id)
    await store.namespaces.grant("ns1", user.id, "editor")
    assert await store.namespaces.roles("ns1") == {user.id: "editor"}
    assert (await store.apps.check("ns1", "app1", 0, "1" * 32, user.id)).status == "revoked"
    role, gen = await store.namespaces.role_and_generation("ns1", user.id)
    assert (role, gen) == ("editor", "1")
    clock.advance(60)
    await store.apps.mint("ns1", "app1", user.id, "3" * 32, exp, APP_USER, APP, role_generation=gen)
    assert (await store.apps.check("ns1", "app1", 0, "3" * 32, user.id)).status == "ok"
    await store.namespaces.grant("ns1", user.id, "viewer")  # a downgrade revokes too
    assert (await store.apps.check("ns1", "app1", 0, "3" * 32, user.id)).status == "revoked"
