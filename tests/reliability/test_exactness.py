"""Exactness on a real Redis: limits hold under concurrency, revocations reach every cache.

Two service processes share one Redis for the mint limit and the revocation
feed; the in-process app takes hundreds of requests at once for the Basic-auth
lockout, the F5 limits and role-binding revocation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import app_support
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis_procs import RedisProcess
from reliability_support import (
    API,
    ServiceProcess,
    basic_header,
    figure,
    json_call,
    keys_json,
    named_token,
    new_key,
    percentile,
    process_env,
    service_env,
    temporary_token,
)

from service.app import create_app
from service.appkeys import AUTHORITY, STORE
from service.clock import FakeClock
from service.settings import RedisSettings
from service.store import Store, passwords
from service.store.store import MAX_EXPIRY
from service.tokens.caveats import TimeCaveat

MINTS = 2_000
LIMIT = 100
# The revocation feed must bring a refusal within FEED_BOUND; the cache itself
# may keep an entry for MAX_STALENESS, far longer, so that an entry expiring
# cannot pass for the feed.
FEED_BOUND = 1.0
MAX_STALENESS = 30.0
TRIALS = 100


class Pair:
    """Two service processes sharing one Redis and one key ring."""

    def __init__(self, a: ServiceProcess, b: ServiceProcess, password: str) -> None:
        self.a, self.b, self.password = a, b, password


@contextlib.asynccontextmanager
async def _pair(
    redis_url: str, tmp_path: Path, a_env: dict[str, str], b_env: dict[str, str]
) -> AsyncIterator[Pair]:
    password = secrets.token_urlsafe(16)
    keys = keys_json(new_key("k1"))
    common = {"TOKEN_SERVICE_SERVER_LOG_LEVEL": "warning"}
    a = ServiceProcess(
        service_env(redis_url, keys, password, **common, **a_env), tmp_path / "a.log"
    )
    b = ServiceProcess(
        service_env(redis_url, keys, password, **common, **b_env), tmp_path / "b.log"
    )
    a.start()
    b.start()
    try:
        await asyncio.gather(a.wait_ready(), b.wait_ready())
        yield Pair(a, b, password)
    finally:
        a.close()
        b.close()
    for proc in (a, b):
        log = proc.log()
        assert "unhandled error" not in log and "Traceback" not in log, log[-2000:]


async def _count_records(redis_url: str, uid: str) -> set[str]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        prefix = f"ts:{{u:{uid}}}:tok:"
        return {k[len(prefix) :] async for k in client.scan_iter(match=prefix + "*", count=1000)}
    finally:
        await client.aclose()


async def _reset_mint_counter(redis_url: str, uid: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        await client.delete(f"ts:{{u:{uid}}}:rl:mint")
    finally:
        await client.aclose()


async def _user_with_token(
    session: aiohttp.ClientSession, pair: Pair, redis_url: str, name: str
) -> tuple[str, dict[str, str]]:
    """A fresh user and a temporary token of theirs, with their mint quota left whole."""
    password = secrets.token_urlsafe(12)
    store = Store(RedisSettings(url=redis_url))
    try:
        user = await store.users.create(name, password)
    finally:
        await store.close()
    token = await temporary_token(
        session, pair.a.url, basic_header(name, password), int(time.time()) + 3600
    )
    # That token was a mint too; the count under test starts from a full quota.
    await _reset_mint_counter(redis_url, user.id)
    return user.id, {"X-Auth-Token": token}


@pytest.mark.timeout(120)
async def test_mint_limit_is_exact_across_two_processes(
    private_redis: RedisProcess, tmp_path: Path
) -> None:
    limits = {
        "TOKEN_SERVICE_RATE_LIMITS_MINT_LIMIT": str(LIMIT),
        "TOKEN_SERVICE_RATE_LIMITS_MINT_PERIOD": "86400",
        "TOKEN_SERVICE_REDIS_SOCKET_TIMEOUT": "10",
    }
    async with _pair(private_redis.url, tmp_path, limits, limits) as pair:
        connector = aiohttp.TCPConnector(limit=400, limit_per_host=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            uid, auth = await _user_with_token(session, pair, private_redis.url, "carol")
            tag = secrets.token_hex(3)

            async def mint(i: int) -> tuple[int, str | None]:
                base = (pair.a, pair.b)[i % 2].url
                async with session.post(
                    f"{base}{API}/user/tokens/named", json={"name": f"m-{tag}-{i}"}, headers=auth
                ) as resp:
                    body = await resp.json()
                    return resp.status, body.get("tokenId") if resp.status == 201 else None

            started = time.monotonic()
            results = await asyncio.gather(*(mint(i) for i in range(MINTS)))
            elapsed = time.monotonic() - started
        codes: dict[int, int] = {}
        for status, _ in results:
            codes[status] = codes.get(status, 0) + 1
        assert codes == {201: LIMIT, 429: MINTS - LIMIT}, codes
        issued = {tid for status, tid in results if status == 201 and tid}
        records = await _count_records(private_redis.url, uid)
        assert records == issued and len(records) == LIMIT
        figure("exactness", "concurrent mints sent (two processes)", MINTS)
        figure("exactness", "client connections (200 per process)", 400)
        figure("exactness", "mints admitted (limit 100)", codes[201])
        figure("exactness", "mints refused with 429", codes[429])
        figure("exactness", "token records in Redis", len(records))
        figure("exactness", "wall time of the 2,000 mints", round(elapsed, 2), "s")


async def _cache_hits(session: aiohttp.ClientSession, base: str) -> float:
    async with session.get(f"{base}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("revocation_cache_hits_total "):
                return float(line.split()[1])
    return 0.0


@pytest.mark.timeout(120)
async def test_revocation_reaches_the_other_process_within_the_bound(
    private_redis: RedisProcess, tmp_path: Path
) -> None:
    cached = {
        "TOKEN_SERVICE_CACHE_SIZE": "10000",
        "TOKEN_SERVICE_CACHE_MAX_STALENESS": str(MAX_STALENESS),
    }
    async with _pair(private_redis.url, tmp_path, {}, cached) as pair:
        async with aiohttp.ClientSession() as session:
            admin = basic_header("admin", pair.password)
            tokens = [
                await named_token(session, pair.a.url, admin, f"r-{i}") for i in range(TRIALS)
            ]
            verify_b = f"{pair.b.url}{API}/tokens/verify_access_token"
            hits_before = await _cache_hits(session, pair.b.url)
            delays: list[float] = []
            stale_answers = 0
            for tid, token in tokens:
                # Twice: the second answer comes from process B's cache.
                for _ in range(2):
                    await json_call(session, "POST", verify_b, 200, json={"token": token})
                await json_call(
                    session,
                    "PATCH",
                    f"{pair.a.url}{API}/tokens/named/{tid}",
                    204,
                    json={"revoked": True},
                    headers=admin,
                )
                acknowledged = time.monotonic()
                deadline = acknowledged + 5 * FEED_BOUND
                while True:
                    async with session.post(verify_b, json={"token": token}) as resp:
                        body = await resp.json()
                        status = resp.status
                    if status != 200:
                        break
                    stale_answers += 1
                    assert time.monotonic() < deadline, "revocation never reached process B"
                assert status == 400 and body["error"]["id"] == "tokenRevoked", body
                delays.append(time.monotonic() - acknowledged)
            hits = await _cache_hits(session, pair.b.url) - hits_before
        assert hits >= TRIALS, hits  # the cache was really in the way
        assert max(delays) < FEED_BOUND, max(delays)
        figure("revocation", "trials", TRIALS)
        figure("revocation", "cache hits on the verifying process", int(hits))
        figure("revocation", "max time from revocation to refusal", round(max(delays), 4), "s")
        figure("revocation", "p50 time to refusal", round(percentile(delays, 0.5), 4), "s")
        figure("revocation", "stale acceptances after the revocation returned", stale_answers)
        figure("revocation", "configured bound (cache.max_staleness)", MAX_STALENESS, "s")
        figure("revocation", "asserted bound on the time to refusal", FEED_BOUND, "s")


# The in-process app on a real Redis: hundreds of requests at once through asyncio.gather.

Client = TestClient[web.Request, web.Application]
NS_ROUTE = "/api/web/namespaces"
APPS_ROUTE = "/api/config/namespaces/{ns}/third_party_applications"


@contextlib.asynccontextmanager
async def _app(redis_url: str, **overrides: Any) -> AsyncIterator[Client]:
    conf = app_support
    app = create_app(
        conf.make_settings(redis_url=redis_url, redis__socket_timeout=10.0, **overrides),
        clock=FakeClock(1_700_000_000.0),
        keyring=conf.KEYRING,
    )
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


class ScryptSpy:
    """Counts password hashes (scrypt runs) and the most that ran at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs = 0
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()
        real = passwords.check_password

        def spy(password: str, encoded: str) -> bool:
            with self._lock:
                self.runs += 1
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                return real(password, encoded)
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(passwords, "check_password", spy)


async def _user_route(client: Client, user: str, password: str) -> int:
    resp = await client.get(f"{API}/user", headers=basic_header(user, password))
    await resp.read()
    if resp.status == 429:
        assert int(resp.headers["Retry-After"]) >= 1
    return resp.status


@pytest.mark.timeout(120)
async def test_concurrent_wrong_passwords_never_exceed_the_lockout(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 10
    async with _app(
        redis_url,
        rate_limits={"failed_login": (limit, 300), "failed_login_ip": (1000, 300)},
        basic_auth__max_password_checks=1000,
    ) as client:
        await client.app[STORE].users.create("alice", "alice-password")
        spy = ScryptSpy(monkeypatch)
        waves = []
        for wave in range(3):
            statuses = await asyncio.gather(
                *(_user_route(client, "alice", f"guess-{wave}-{i}") for i in range(300))
            )
            waves.append(statuses)
        checked = spy.runs
        # Even the right password is refused now, and not hashed.
        assert await _user_route(client, "alice", "alice-password") == 429
        assert spy.runs == checked
    first = {s: waves[0].count(s) for s in set(waves[0])}
    assert first == {401: limit, 429: 300 - limit}, first
    assert all(set(w) == {429} for w in waves[1:])
    assert checked == limit, checked
    figure("lockout", "concurrent wrong passwords sent (3 waves of 300)", 900)
    figure("lockout", "passwords hashed (failed_login.limit = 10)", checked)


@pytest.mark.timeout(120)
async def test_password_spraying_from_one_address_never_exceeds_the_ip_lockout(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ip_limit = 25
    async with _app(
        redis_url,
        rate_limits={"failed_login": (10, 300), "failed_login_ip": (ip_limit, 300)},
        basic_auth__max_password_checks=1000,
    ) as client:
        store = client.app[STORE]
        for i in range(20):
            await store.users.create(f"user{i}", secrets.token_urlsafe(12))
        spy = ScryptSpy(monkeypatch)
        # Existing and missing users alike, one guess each, all at once.
        statuses = await asyncio.gather(
            *(_user_route(client, f"user{i % 40}", f"spray-{i}") for i in range(400))
        )
    counts = collections.Counter(statuses)
    assert counts == {401: ip_limit, 429: 400 - ip_limit}, counts
    assert spy.runs == ip_limit, spy.runs
    figure("lockout", "password spraying: passwords hashed (failed_login_ip.limit = 25)", spy.runs)


@pytest.mark.timeout(120)
async def test_password_checks_in_flight_are_bounded(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _app(
        redis_url,
        rate_limits={"failed_login": (10_000, 300), "failed_login_ip": (10_000, 300)},
        basic_auth__max_password_checks=2,
    ) as client:
        await client.app[STORE].users.create("alice", "alice-password")
        spy = ScryptSpy(monkeypatch)
        statuses = await asyncio.gather(
            *(_user_route(client, "alice", f"guess-{i}") for i in range(200))
        )
        # A refused check gave its reservation back; the good password still works.
        assert await _user_route(client, "alice", "alice-password") == 200
        assert await _user_route(client, "alice", "alice-password") == 200
        assert spy.runs == statuses.count(401) + 1  # the second login was remembered
    assert spy.most <= 2, spy.most
    assert statuses.count(429) > 0 and statuses.count(401) >= 2
    assert set(statuses) == {401, 429}
    figure("lockout", "200 concurrent Basic logins, max_password_checks = 2: hashed", spy.runs - 1)
    figure("lockout", "most password hashes running at once", spy.most)


@pytest.mark.timeout(120)
async def test_a_burst_of_honest_logins_waits_for_a_password_check(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the queue, logins beyond the checks in flight wait instead of being refused."""
    async with _app(
        redis_url,
        basic_auth__max_password_checks=2,
        basic_auth__password_check_queue=30,
    ) as client:
        names = [f"user{i}" for i in range(32)]
        for name in names:
            await client.app[STORE].users.create(name, name + "-password")
        spy = ScryptSpy(monkeypatch)
        statuses = await asyncio.gather(
            *(_user_route(client, name, name + "-password") for name in names)
        )
        assert statuses == [200] * 32
    assert spy.runs == 32 and spy.most <= 2, (spy.runs, spy.most)


@pytest.mark.timeout(120)
async def test_a_burst_of_the_same_good_credentials_is_one_check(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client opening many connections at once is not locked out by its own burst."""
    async with _app(redis_url, rate_limits={"failed_login": (10, 300)}) as client:
        await client.app[STORE].users.create("alice", "alice-password")
        spy = ScryptSpy(monkeypatch)
        statuses = await asyncio.gather(
            *(_user_route(client, "alice", "alice-password") for _ in range(200))
        )
    # One check (one reservation) for the burst; the rest came from it or the cache.
    assert statuses == [200] * 200
    assert spy.runs == 1, spy.runs


async def _admin_token(client: Client) -> dict[str, str]:
    store = client.app[STORE]
    admin = await store.users.get_by_name("admin")
    assert admin is not None
    authority = client.app[AUTHORITY]
    minted = await authority.mint_temporary(
        admin.id, "access", [TimeCaveat(authority.now() + 3600)]
    )
    return {"Authorization": f"APIToken {minted.token}"}


async def _user_token(client: Client, name: str) -> tuple[str, dict[str, str]]:
    user = await client.app[STORE].users.create(name, secrets.token_urlsafe(12))
    authority = client.app[AUTHORITY]
    minted = await authority.mint_temporary(user.id, "access", [TimeCaveat(authority.now() + 3600)])
    return user.id, {"Authorization": f"APIToken {minted.token}"}


async def _call(client: Client, method: str, url: str, expected: int, **kwargs: Any) -> Any:
    resp = await client.request(method, url, **kwargs)
    body = await resp.json()
    assert resp.status == expected, (method, url, resp.status, body)
    return body


async def _namespaces(client: Client, admin: dict[str, str], apps: dict[str, list[str]]) -> None:
    for ns, names in apps.items():
        await _call(client, "POST", NS_ROUTE, 200, json={"metadata": {"name": ns}}, headers=admin)
        for name in names:
            await _call(
                client,
                "POST",
                APPS_ROUTE.format(ns=ns),
                200,
                json={"metadata": {"name": name}},
                headers=admin,
            )


async def _generate(client: Client, ns: str, app: str, auth: dict[str, str]) -> tuple[int, str]:
    resp = await client.get(f"{APPS_ROUTE.format(ns=ns)}/{app}/generate_token", headers=auth)
    body = await resp.json()
    return resp.status, body["token"] if resp.status == 200 else ""


async def _f5_records(redis_url: str) -> int:
    client = aioredis.from_url(redis_url)
    try:
        return len([k async for k in client.scan_iter(match="ts:{a:*}:tok:*", count=1000)])
    finally:
        await client.aclose()


@pytest.mark.timeout(120)
async def test_generate_token_user_limit_counts_every_application(redis_url: str) -> None:
    limit, app_limit = 5, 10
    apps = {"ns1": ["a1", "a2", "a3"], "ns2": ["b1", "b2", "b3"]}
    targets = [(ns, app) for ns, names in apps.items() for app in names]
    async with _app(
        redis_url,
        rate_limits={"generate_token": (limit, 60), "generate_token_app": (app_limit, 60)},
    ) as client:
        admin = await _admin_token(client)
        await _namespaces(client, admin, apps)
        _, bob = await _user_token(client, "bob")
        for ns in apps:
            await _call(
                client,
                "PUT",
                f"{NS_ROUTE}/{ns}/role_bindings/bob",
                200,
                json={"role": "editor"},
                headers=admin,
            )
        results = await asyncio.gather(
            *(_generate(client, *targets[i % len(targets)], bob) for i in range(600))
        )
        minted = [token for status, token in results if status == 200]
        assert {status for status, _ in results} <= {200, 429}
        assert 1 <= len(minted) <= limit, len(minted)
        # The quota is exact once the flood is over: refused calls gave their cells back.
        for ns, app in targets:
            while (await _generate(client, ns, app, bob))[0] == 200:
                minted.append("")
        assert len(minted) == limit, len(minted)
        assert await _f5_records(redis_url) == limit
        # Bob's refused calls did not spend the applications' quotas: carol gets hers.
        _, carol = await _user_token(client, "carol")
        await _call(
            client,
            "PUT",
            f"{NS_ROUTE}/ns1/role_bindings/carol",
            200,
            json={"role": "editor"},
            headers=admin,
        )
        carols = [await _generate(client, "ns1", "a1", carol) for _ in range(limit)]
        assert [s for s, _ in carols] == [200] * limit
        resp = await client.get(f"{APPS_ROUTE.format(ns='ns1')}/a2/generate_token", headers=carol)
        assert resp.status == 429
        assert resp.headers["RateLimit-Policy"] == f'"generate_token";q={limit};w=60'
    figure("f5 limits", "concurrent generate_token calls of one user across 6 apps", 600)
    figure("f5 limits", "tokens minted (generate_token.limit = 5)", limit)
    figure("f5 limits", "token records in Redis", limit)


async def _check(client: Client, token: str) -> int:
    resp = await client.get("/auth/check", headers={"Authorization": f"APIToken {token}"})
    await resp.read()
    return resp.status


@pytest.mark.timeout(120)
@pytest.mark.parametrize("via", ["admin route", "cli", "downgrade"])
async def test_removing_a_role_binding_kills_that_users_f5_tokens(redis_url: str, via: str) -> None:
    apps = {"ns1": ["a1", "a2"], "ns2": ["b1"]}
    # A cache that would serve stale answers for a minute: only the feed can drop them.
    async with _app(redis_url, cache__size=10_000, cache__max_staleness=60.0) as client:
        store = client.app[STORE]
        await asyncio.wait_for(store.feed.subscribed.wait(), 10)
        admin = await _admin_token(client)
        await _namespaces(client, admin, apps)
        _, bob = await _user_token(client, "bob")
        _, dan = await _user_token(client, "dan")
        for ns, user in (("ns1", "bob"), ("ns2", "bob"), ("ns1", "dan")):
            await _call(
                client,
                "PUT",
                f"{NS_ROUTE}/{ns}/role_bindings/{user}",
                200,
                json={"role": "editor"},
                headers=admin,
            )
        bob_ns1 = [(await _generate(client, "ns1", app, bob))[1] for app in ("a1", "a2", "a1")]
        bob_ns2 = (await _generate(client, "ns2", "b1", bob))[1]
        dan_ns1 = (await _generate(client, "ns1", "a1", dan))[1]
        admin_ns1 = (await _generate(client, "ns1", "a1", admin))[1]
        everyone = [*bob_ns1, bob_ns2, dan_ns1, admin_ns1]
        assert [await _check(client, t) for t in everyone] == [200] * len(everyone)
        hits = store.cache.hits
        assert [await _check(client, t) for t in everyone] == [200] * len(everyone)
        assert store.cache.hits >= hits + len(everyone)  # the cache answers them now

        if via == "admin route":
            await _call(client, "DELETE", f"{NS_ROUTE}/ns1/role_bindings/bob", 200, headers=admin)
        elif via == "downgrade":
            await _call(
                client,
                "PUT",
                f"{NS_ROUTE}/ns1/role_bindings/bob",
                200,
                json={"role": "viewer"},
                headers=admin,
            )
        else:
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "service", "namespaces", "revoke", "ns1", "bob"],
                env=process_env({"TOKEN_SERVICE_REDIS_URL": redis_url}),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 5
        while any([await _check(client, t) == 200 for t in bob_ns1]):
            assert time.monotonic() < deadline, "the feed never dropped bob's cached checks"
            await asyncio.sleep(0.01)
        # Only bob's tokens of ns1 died; his others, dan's and the admin's live on.
        assert [await _check(client, t) for t in bob_ns1] == [401] * 3
        assert [await _check(client, t) for t in (bob_ns2, dan_ns1, admin_ns1)] == [200] * 3
        # Bound again, bob mints tokens that work; the old ones stay dead.
        await _call(
            client,
            "PUT",
            f"{NS_ROUTE}/ns1/role_bindings/bob",
            200,
            json={"role": "editor"},
            headers=admin,
        )
        fresh = (await _generate(client, "ns1", "a1", bob))[1]
        assert await _check(client, fresh) == 200
        assert [await _check(client, t) for t in bob_ns1] == [401] * 3


@pytest.mark.timeout(120)
async def test_a_mint_racing_the_revocation_never_outlives_it(redis_url: str) -> None:
    unlimited = {"generate_token": (10**6, 60), "generate_token_app": (10**6, 60)}
    async with _app(redis_url, rate_limits=unlimited) as client:
        admin = await _admin_token(client)
        await _namespaces(client, admin, {"ns1": ["a1"]})
        _, bob = await _user_token(client, "bob")
        binding = f"{NS_ROUTE}/ns1/role_bindings/bob"
        survivors = minted_total = refused = late = 0
        for _ in range(5):
            await _call(client, "PUT", binding, 200, json={"role": "editor"}, headers=admin)
            revoked_at = [float("inf")]

            async def generate(i: int) -> tuple[int, str, float]:
                # Spread over about 40 ms, across the removal at about 10 ms.
                await asyncio.sleep(i * 0.0002)
                status, token = await _generate(client, "ns1", "a1", bob)
                return status, token, time.monotonic()

            async def revoke() -> None:
                await asyncio.sleep(0.01)
                await _call(client, "DELETE", binding, 200, headers=admin)
                revoked_at[0] = time.monotonic()

            *results, _ = await asyncio.gather(*(generate(i) for i in range(200)), revoke())
            minted = [(t, at) for s, t, at in results if s == 200]
            minted_total += len(minted)
            # Minted after the removal was acknowledged: the role was read before it.
            late += sum(1 for _, at in minted if at > revoked_at[0])
            refused += sum(1 for s, _, _ in results if s == 403)
            survivors += sum([await _check(client, t) == 200 for t, _ in minted])
        assert survivors == 0
        assert minted_total > 0 and refused > 0
        figure("role revocation", "generate_token calls (5 rounds of 200, removal mid-way)", 1000)
        figure("role revocation", "tokens minted", minted_total)
        figure("role revocation", "of them answered after the removal returned", late)
        figure("role revocation", "calls refused with 403 once the binding was gone", refused)
        figure("role revocation", "of them still valid afterwards", survivors)


@pytest.mark.timeout(60)
async def test_far_future_time_caveats_are_refused_at_the_edge(redis_url: str) -> None:
    async with _app(redis_url) as client:
        _, auth = await _user_token(client, "ivy")
        named = f"{API}/user/tokens/named"
        for i, valid_until in enumerate((MAX_EXPIRY + 1, 10**14, 2**63 - 1)):
            caveats = [{"type": "time", "validUntil": valid_until}]
            for url, body in (
                (named, {"name": f"far-{i}", "caveats": caveats}),
                (f"{API}/user/tokens/temporary", {"caveats": caveats}),
            ):
                error = await _call(client, "POST", url, 400, json=body, headers=auth)
                assert error["error"]["id"] == "badValueTooHigh", error
                assert error["error"]["details"] == {"key": "validUntil", "high": MAX_EXPIRY}
        # Confinement needs no key, but writes no such token either.
        good = await _call(client, "POST", named, 201, json={"name": "good"}, headers=auth)
        error = await _call(
            client,
            "POST",
            f"{API}/tokens/confine",
            400,
            json={"token": good["token"], "caveats": [{"type": "time", "validUntil": 10**14}]},
        )
        assert error["error"]["details"]["key"] == "validUntil"
        # Nothing was recorded; the latest expiry allowed is listed, found and deleted.
        body = {"name": "latest", "caveats": [{"type": "time", "validUntil": MAX_EXPIRY}]}
        latest = await _call(client, "POST", named, 201, json=body, headers=auth)
        listed = await _call(client, "GET", named, 200, headers=auth)
        assert sorted(listed["tokens"]) == sorted([good["tokenId"], latest["tokenId"]])
        found = await _call(client, "GET", f"{named}/name/latest", 200, headers=auth)
        assert found["id"] == latest["tokenId"]
        resp = await client.delete(named, headers=auth)
        assert resp.status == 204
        assert (await _call(client, "GET", named, 200, headers=auth))["tokens"] == []
        assert await _check(client, latest["token"]) == 401
