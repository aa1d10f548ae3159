"""Restarts: SIGTERM under load, then the same Redis and keys give every token the same verdict.

Then two more restarts rotate the keys: the old key first verifies only, then
is retired. (Draining in-flight requests on SIGTERM is tested in
tests/test_serve*.py; this is the other half: what survives a restart.)
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import aiohttp
import pytest
from redis_procs import RedisProcess
from reliability_support import (
    API,
    Load,
    ServiceProcess,
    basic_header,
    figure,
    json_call,
    keys_json,
    named_token,
    new_key,
    service_env,
    statuses,
    temporary_token,
    with_state,
)

from service.settings import RedisSettings
from service.store import Store
from service.tokens.keys import KeyRing

Verdict = tuple[int, str]
APPS = "/api/config/namespaces/ns1/third_party_applications"


async def _verdict(session: aiohttp.ClientSession, base: str, token: str) -> Verdict:
    """(status, error id or text) of a token: Onezone verify, or /auth/check for F5 tokens."""
    if token.startswith("Ag"):
        async with session.get(
            f"{base}/auth/check", headers={"Authorization": f"APIToken {token}"}
        ) as resp:
            return resp.status, (await resp.text()).strip() if resp.status != 200 else "ok"
    async with session.post(f"{base}{API}/tokens/verify_access_token", json={"token": token}) as r:
        body = await r.json()
        return r.status, body["error"]["id"] if r.status != 200 else "ok"


async def _verdicts(base: str, tokens: list[str]) -> dict[str, Verdict]:
    semaphore = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as session:

        async def one(token: str) -> tuple[str, Verdict]:
            async with semaphore:
                return token, await _verdict(session, base, token)

        return dict(await asyncio.gather(*(one(t) for t in dict.fromkeys(tokens))))


class Tokens:
    """Tokens of every kind, some left valid and some revoked in every way there is."""

    def __init__(self) -> None:
        self.valid: list[str] = []
        self.refused: list[str] = []
        self.expiring: str = ""
        self.expires_at = 0


async def _make_tokens(base: str, redis_url: str, admin_password: str) -> Tokens:
    out = Tokens()
    store = Store(RedisSettings(url=redis_url))
    try:
        for name in ("alice", "bob", "carol"):
            await store.users.create(name, f"{name}-password")
    finally:
        await store.close()
    alice = basic_header("alice", "alice-password")
    bob = basic_header("bob", "bob-password")
    carol = basic_header("carol", "carol-password")
    admin = basic_header("admin", admin_password)
    now = int(time.time())
    async with aiohttp.ClientSession() as s:
        named = [await named_token(s, base, alice, f"n{i}") for i in range(10)]
        out.valid += [t for _, t in named[:5]]
        for tid, token in named[5:8]:
            await json_call(
                s,
                "PATCH",
                f"{base}{API}/tokens/named/{tid}",
                204,
                json={"revoked": True},
                headers=alice,
            )
            out.refused.append(token)
        for tid, token in named[8:]:
            await json_call(s, "DELETE", f"{base}{API}/tokens/named/{tid}", 204, headers=alice)
            out.refused.append(token)
        clients = [
            (await json_call(s, "POST", f"{base}{API}/user/client_tokens", 200, headers=alice))[
                "token"
            ]
            for _ in range(2)
        ]
        out.valid.append(clients[0])
        await json_call(
            s, "DELETE", f"{base}{API}/user/client_tokens/{clients[1]}", 204, headers=alice
        )
        out.refused.append(clients[1])
        out.valid += [await temporary_token(s, base, alice, now + 3600) for _ in range(3)]
        out.expires_at = now + 3
        out.expiring = await temporary_token(s, base, alice, out.expires_at)
        out.refused += [await temporary_token(s, base, bob, now + 3600) for _ in range(3)]
        await json_call(s, "DELETE", f"{base}{API}/user/tokens/temporary", 204, headers=bob)
        out.valid += [await temporary_token(s, base, bob, now + 3600) for _ in range(2)]
        out.refused.append((await named_token(s, base, carol, "gone"))[1])

        # F5: tokens of a live application, of a deleted one and of a disabled one.
        _, admin_token = await named_token(s, base, admin, "admin-f5")
        admin_f5 = {"Authorization": f"APIToken {admin_token}"}
        alice_f5 = {"Authorization": f"APIToken {out.valid[0]}"}
        await json_call(
            s,
            "POST",
            f"{base}/api/web/namespaces",
            200,
            json={"metadata": {"name": "ns1"}},
            headers=admin_f5,
        )
        await json_call(
            s,
            "PUT",
            f"{base}/api/web/namespaces/ns1/role_bindings/alice",
            200,
            json={"role": "editor"},
            headers=admin_f5,
        )
        generated: dict[str, list[str]] = {}
        for app in ("live", "deleted", "disabled"):
            await json_call(
                s, "POST", f"{base}{APPS}", 200, json={"metadata": {"name": app}}, headers=alice_f5
            )
            generated[app] = [
                (
                    await json_call(
                        s, "GET", f"{base}{APPS}/{app}/generate_token", 200, headers=alice_f5
                    )
                )["token"]
                for _ in range(2)
            ]
        await json_call(s, "DELETE", f"{base}{APPS}/deleted", 200, headers=alice_f5)
        await json_call(
            s,
            "PUT",
            f"{base}{APPS}/disabled",
            200,
            json={"metadata": {"name": "disabled", "disable": True}},
            headers=alice_f5,
        )
        out.valid += generated["live"]
        out.refused += generated["deleted"] + generated["disabled"]
    store = Store(RedisSettings(url=redis_url))
    try:
        await store.users.remove("carol")
    finally:
        await store.close()
    return out


@pytest.mark.timeout(180)
async def test_restarts_keep_every_verdict_and_rotate_keys(
    private_redis: RedisProcess, tmp_path: Path
) -> None:
    password = secrets.token_urlsafe(16)
    k1, k2 = new_key("k1"), new_key("k2")
    settings = {
        "TOKEN_SERVICE_SERVER_SHUTDOWN_GRACE": "5",
        "TOKEN_SERVICE_SERVER_LOG_LEVEL": "warning",
        "TOKEN_SERVICE_RATE_LIMITS_MINT_LIMIT": "1000000",
    }

    def service(name: str, *keys: dict[str, str], port: int | None = None) -> ServiceProcess:
        env = service_env(private_redis.url, keys_json(*keys), password, **settings)
        return ServiceProcess(env, tmp_path / f"{name}.log", port=port)

    first = service("first", k1)
    first.start()
    processes = [first]
    try:
        await first.wait_ready()
        tokens = await _make_tokens(first.url, private_redis.url, password)
        everything = [*tokens.valid, *tokens.refused]
        before = await _verdicts(first.url, everything)
        assert all(before[t] == (200, "ok") for t in tokens.valid), before
        assert all(before[t][0] in (400, 401) for t in tokens.refused), before

        # SIGTERM while tokens are being minted and used.
        load = Load(first.url, tokens.valid[0], workers=8, max_requests=20_000, max_seconds=30)
        running = asyncio.create_task(load.run())
        await asyncio.sleep(1.5)
        stopped_at = time.monotonic()
        exit_code = await first.terminate(within=20)
        load.stop()
        await running
        minted = [o.token for o in load.outcomes if o.ok and o.token is not None]
        assert minted, statuses(load.outcomes)

        second = service("second", k1, port=first.port)
        processes.append(second)
        second.start()
        await second.wait_ready()
        back_after = time.monotonic() - stopped_at
        after = await _verdicts(second.url, [*everything, *minted])
        changed = {t: (before[t], after[t]) for t in everything if before[t] != after[t]}
        assert not changed, list(changed.values())
        lost = [after[t] for t in minted if after[t] != (200, "ok")]
        assert not lost, lost[:5]
        await asyncio.sleep(max(0.0, tokens.expires_at - time.time() + 0.1))
        expired = (await _verdicts(second.url, [tokens.expiring]))[tokens.expiring]
        assert expired == (400, "tokenCaveatUnverified"), expired

        # Rotation: a new active key, the old one verify-only.
        await second.terminate(within=20)
        third = service("third", k2, with_state(k1, "verify"), port=first.port)
        processes.append(third)
        third.start()
        await third.wait_ready()
        rotated = await _verdicts(third.url, [*everything, *minted])
        assert rotated == after, "a verify-only key changed a verdict"
        async with aiohttp.ClientSession() as s:
            alice = basic_header("alice", "alice-password")
            new_id, new_token = await named_token(s, third.url, alice, "after-rotation")
        assert new_id.startswith(KeyRing.from_mapping({"keys": [k2]}).active.tag)
        assert (await _verdicts(third.url, [new_token]))[new_token] == (200, "ok")

        # Retirement: tokens of the old key are refused, those of the new one are not.
        await third.terminate(within=20)
        fourth = service("fourth", k2, with_state(k1, "retired"), port=first.port)
        processes.append(fourth)
        fourth.start()
        await fourth.wait_ready()
        retired = await _verdicts(fourth.url, [*tokens.valid, *minted, new_token])
        assert retired[new_token] == (200, "ok")
        old = [retired[t] for t in [*tokens.valid, *minted]]
        # Onezone tokens: tokenInvalid; F5 tokens at /auth/check: 401.
        assert all(v == (400, "tokenInvalid") or v[0] == 401 for v in old), set(old)
    finally:
        for proc in processes:
            proc.close()
    for proc in processes:
        log = proc.log()
        assert "unhandled error" not in log and "Traceback" not in log, log[-2000:]

    figure("restart", "tokens checked across the restart", len(everything) + len(minted))
    figure("restart", "of which minted under load just before SIGTERM", len(minted))
    figure("restart", "verdicts changed by the restart", 0)
    figure("restart", "exit code after SIGTERM under load", exit_code)
    figure("restart", "SIGTERM to the new process ready", round(back_after, 2), "s")
    figure("restart", "requests of the load", str(statuses(load.outcomes)))
    # Refused connections after the listener closed are expected; anything else is a
    # request cut off mid-way, which the graceful-shutdown tests (tests/test_serve*) own.
    cut_off = [o for o in load.outcomes if o.status == 0 and o.error != "ClientConnectorError"]
    figure("restart", "requests cut off by the shutdown (client side)", len(cut_off))
    figure("restart", "old-key tokens after rotation (verify-only)", "all still verify")
    figure("restart", "old-key tokens after retirement", f"{len(old)} of {len(old)} refused")
