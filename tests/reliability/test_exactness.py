"""Two service processes on one real Redis: rate limits are exact, revocations reach the other."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
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
    service_env,
    temporary_token,
)

from service.settings import RedisSettings
from service.store import Store

MINTS = 2_000
LIMIT = 100
MAX_STALENESS = 1.0
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
        user = await store.create_user(name, password)
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
                deadline = acknowledged + 5 * MAX_STALENESS
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
        assert max(delays) < MAX_STALENESS, max(delays)
        figure("revocation", "trials", TRIALS)
        figure("revocation", "cache hits on the verifying process", int(hits))
        figure("revocation", "max time from revocation to refusal", round(max(delays), 4), "s")
        figure("revocation", "p50 time to refusal", round(percentile(delays, 0.5), 4), "s")
        figure("revocation", "stale acceptances after the revocation returned", stale_answers)
        figure("revocation", "configured bound (cache.max_staleness)", MAX_STALENESS, "s")
