"""Crypto hygiene: constant-time compares, no secret in a log or an error body, an untrusted location.

Key rotation and retired keys are tested across real restarts in test_restart.py.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import dataclasses
import hmac
import json
import logging
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import app_support
import pytest
from aiohttp.test_utils import TestServer
from redis_procs import RedisProcess, require_redis
from reliability_support import (
    API,
    ROOT,
    ServiceProcess,
    figure,
    keys_json,
    new_key,
    process_env,
    service_env,
)

from service.app import create_app
from service.appkeys import STORE
from service.settings import Secret
from service.store import passwords
from service.tokens import encoding, macaroon
from service.tokens.errors import InvalidSignature
from service.tokens.keys import KeyRing, SigningKey
from service.tokens.macaroon import Macaroon, mint
from service.tokens.verifier import Context, Verifier

SECRET_WORDS = {"sig", "signature", "digest", "secret", "mac", "hmac", "password", "passwd", "pw"}
# Equality on a secret that is fine, and why.
ALLOWED_EQUALITY = {
    (
        "service/cli/common.py",
        "getpass.getpass('Repeat: ') != password",
    ): "an operator's own prompt",
}


def _names(node: ast.AST) -> set[str]:
    words: set[str] = set()
    for sub in ast.walk(node):
        ident = sub.id if isinstance(sub, ast.Name) else getattr(sub, "attr", None)
        if isinstance(ident, str):
            words.update(w.lower() for w in ident.split("_") if w)
    return words


def _is_len(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"


def test_no_equality_on_signatures_or_secrets() -> None:
    offenders = []
    for path in sorted((ROOT / "service").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(_is_len(o) for o in operands):
                continue  # lengths are public
            if not any(_names(o) & SECRET_WORDS for o in operands):
                continue
            source = ast.unparse(node)
            if (rel, source) not in ALLOWED_EQUALITY:
                offenders.append(f"{rel}:{node.lineno}: {source}")
    assert not offenders, "compare these with hmac.compare_digest:\n" + "\n".join(offenders)


@pytest.fixture
def compares(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[bytes, bytes]]]:
    """Every hmac.compare_digest call made by the signature, key and password checks."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setattr(macaroon, "_compare", spy)
    yield calls


def test_compare_points_are_constant_time(compares: list[tuple[bytes, bytes]]) -> None:
    root = bytes(range(32))
    m = mint(root, b"id", "loc", ["time < 2000000000"])
    ctx = Context(now=1_700_000_000)
    Verifier().verify(m, root, ctx)
    assert compares[-1] == (m.signature, m.signature)
    forged = dataclasses.replace(m, signature=bytes(32))
    with pytest.raises(InvalidSignature):
        Verifier().verify(forged, root, ctx)
    assert compares[-1][1] == bytes(32)

    encoded = passwords.hash_password("right", n=2**10)
    count = len(compares)
    assert passwords.check_password("right", encoded)
    assert not passwords.check_password("wrong", encoded)
    assert len(compares) == count + 2

    # A key handed in from outside the ring is matched to the ring's by its secret.
    ring = KeyRing([SigningKey("k1", b"\x01" * 32)])
    count = len(compares)
    ring.root_key(SigningKey("k1", b"\x01" * 32), "onezone", b"id")
    assert len(compares) == count + 1


# ---------------------------------------------------------------- secrets


@dataclasses.dataclass
class Flow:
    """What a representative run produced: its secrets and every error body it got."""

    secrets: dict[str, str] = dataclasses.field(default_factory=dict)
    error_bodies: list[str] = dataclasses.field(default_factory=list)
    requests: int = 0

    def secret(self, name: str, value: str) -> str:
        self.secrets[name] = value
        return value

    def key_secrets(self, entries: list[dict[str, str]]) -> None:
        for entry in entries:
            raw = base64.b64decode(entry["secret"])
            self.secrets[f"key {entry['kid']} (base64)"] = entry["secret"]
            self.secrets[f"key {entry['kid']} (hex)"] = raw.hex()
            self.secrets[f"key {entry['kid']} (bytes)"] = repr(raw)[2:-1]

    def leaks(self, text: str, where: str) -> list[str]:
        return [f"{name} in {where}" for name, value in self.secrets.items() if value in text]


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def _run_flow(
    base: str, flow: Flow, admin_password: str, add_user: Callable[[str, str], Awaitable[None]]
) -> None:
    """Logins good and bad, every kind of token minted, used, confined, revoked and forged."""
    async with aiohttp.ClientSession() as session:

        async def call(method: str, path: str, expected: int, **kw: Any) -> Any:
            async with session.request(method, base + path, **kw) as resp:
                text = await resp.text()
                flow.requests += 1
                assert resp.status == expected, (method, path, resp.status, text)
                if resp.status >= 400:
                    flow.error_bodies.append(text)
                return (
                    json.loads(text) if text and resp.content_type == "application/json" else text
                )

        admin = _basic("admin", admin_password)
        flow.secrets["admin Basic header"] = admin["Authorization"].split()[1]
        await call("GET", f"{API}/user", 200, headers=admin)
        wrong = flow.secret("a wrong password", "Tr0ub4dor&3-" + secrets.token_hex(4))
        await call("GET", f"{API}/user", 401, headers=_basic("admin", wrong))
        await call("GET", f"{API}/user", 401, headers=_basic("nobody", wrong))

        password = flow.secret("alice's password", "alice-" + secrets.token_urlsafe(12))
        await add_user("alice", password)
        alice = _basic("alice", password)
        named = await call(
            "POST", f"{API}/user/tokens/named", 201, json={"name": "n1"}, headers=alice
        )
        token = flow.secret("named token", named["token"])
        auth = {"X-Auth-Token": token}
        until = int(time.time()) + 600
        cavs = [{"type": "time", "validUntil": until}]
        temp = await call(
            "POST", f"{API}/user/tokens/temporary", 201, json={"caveats": cavs}, headers=auth
        )
        flow.secret("temporary token", temp["token"])
        client = await call("POST", f"{API}/user/client_tokens", 200, headers=alice)
        client_token = flow.secret("client token", client["token"])
        await call("GET", f"{API}/user/client_tokens", 200, headers=auth)
        await call("GET", f"{API}/tokens/named/{named['tokenId']}", 200, headers=auth)
        await call("POST", f"{API}/tokens/verify_access_token", 200, json={"token": token})
        await call("POST", f"{API}/tokens/verify_identity_token", 400, json={"token": token})
        await call("POST", f"{API}/tokens/examine", 200, json={"token": token})
        ip_cav = [{"type": "ip", "whitelist": ["192.0.2.1"]}]
        confined = await call(
            "POST", f"{API}/tokens/confine", 200, json={"token": token, "caveats": ip_cav}
        )
        flow.secret("confined token", confined["token"])
        await call(
            "POST", f"{API}/tokens/verify_access_token", 400, json={"token": confined["token"]}
        )
        forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
        await call("POST", f"{API}/tokens/verify_access_token", 400, json={"token": forged})
        await call("GET", f"{API}/user", 401, headers={"X-Auth-Token": forged})
        await call("GET", "/auth/check", 200, headers={"Authorization": f"Bearer {token}"})
        await call("GET", "/auth/check", 401, headers={"Authorization": f"Bearer {forged}"})

        # Revoked and deleted tokens are refused without being echoed.
        second = await call(
            "POST", f"{API}/user/tokens/named", 201, json={"name": "n2"}, headers=auth
        )
        revoked = flow.secret("revoked token", second["token"])
        await call(
            "PATCH",
            f"{API}/tokens/named/{second['tokenId']}",
            204,
            json={"revoked": True},
            headers=auth,
        )
        await call("POST", f"{API}/tokens/verify_access_token", 400, json={"token": revoked})
        await call("GET", "/auth/check", 401, headers={"X-Auth-Token": revoked})
        await call("DELETE", f"{API}/user/client_tokens/{client_token}", 204, headers=auth)
        await call("DELETE", f"{API}/user/client_tokens/{client_token}", 404, headers=auth)

        # F5: an application's token, used, then killed with its application.
        named_admin = await call(
            "POST", f"{API}/user/tokens/named", 201, json={"name": "a1"}, headers=admin
        )
        admin_token = flow.secret("admin token", named_admin["token"])
        admin_f5 = {"Authorization": f"APIToken {admin_token}"}
        await call(
            "POST", "/api/web/namespaces", 200, json={"metadata": {"name": "ns1"}}, headers=admin_f5
        )
        await call(
            "PUT",
            "/api/web/namespaces/ns1/role_bindings/alice",
            200,
            json={"role": "editor"},
            headers=admin_f5,
        )
        apps = "/api/config/namespaces/ns1/third_party_applications"
        await call("POST", apps, 200, json={"metadata": {"name": "app1"}}, headers=admin_f5)
        generated = await call(
            "GET",
            f"{apps}/app1/generate_token",
            200,
            headers={"Authorization": f"APIToken {token}"},
        )
        f5_token = flow.secret("F5 token", generated["token"])
        await call("GET", "/auth/check", 200, headers={"Authorization": f"APIToken {f5_token}"})
        await call("DELETE", f"{apps}/app1", 200, headers=admin_f5)
        await call("GET", "/auth/check", 401, headers={"Authorization": f"APIToken {f5_token}"})
        await call(
            "GET",
            f"{apps}/app1/generate_token",
            404,
            headers={"Authorization": f"APIToken {token}"},
        )
        for kind, value in list(flow.secrets.items()):
            if "token" in kind:
                # The signature is the secret part of a token: its hex, as a repr would show it.
                m = encoding.deserialize_any(value)[1]
                flow.secrets[f"{kind} signature"] = m.signature.hex()


def _cli_add_user(env: dict[str, str], outputs: list[str]) -> Callable[[str, str], Awaitable[None]]:
    async def add(name: str, password: str) -> None:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "service", "users", "add", name, "--password-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=process_env(env),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.extend([done.stdout, done.stderr])

    return add


@pytest.fixture
def locked_redis() -> Iterator[RedisProcess]:
    """A private Redis that wants a password (which must not leak either)."""
    require_redis()
    server = RedisProcess(password="redis-" + secrets.token_hex(8))
    server.start()
    yield server
    server.close()


@pytest.mark.timeout(120)
async def test_no_secret_in_the_service_log_or_an_error_body(
    locked_redis: RedisProcess, tmp_path: Path
) -> None:
    flow = Flow()
    admin_password = flow.secret("admin password", "admin-" + secrets.token_urlsafe(12))
    assert locked_redis.password is not None
    flow.secret("Redis password", locked_redis.password)
    entries = [new_key("k1"), new_key("k0", "verify")]
    flow.key_secrets(entries)
    env = service_env(
        locked_redis.url,
        keys_json(*entries),
        admin_password,
        TOKEN_SERVICE_SERVER_LOG_LEVEL="debug",
    )
    service = ServiceProcess(env, tmp_path / "service.log")
    cli_outputs: list[str] = []
    service.start()
    try:
        await service.wait_ready()
        await _run_flow(service.url, flow, admin_password, _cli_add_user(env, cli_outputs))
        # The store going away logs too.
        locked_redis.kill()
        # The verification cache (on by default) may answer until its feed sees the
        # connection drop, never past cache.max_staleness (1 s): ask until 503.
        status = 0
        deadline = time.monotonic() + 5.0
        async with aiohttp.ClientSession() as session:
            while status != 503 and time.monotonic() < deadline:
                async with session.get(
                    f"{service.url}{API}/user", headers=_basic("admin", admin_password)
                ) as resp:
                    status = resp.status
                    flow.error_bodies.append(await resp.text())
                if status != 503:
                    await asyncio.sleep(0.05)
        assert status == 503
        locked_redis.start()
    finally:
        await service.terminate()
    log = service.log()
    assert "DEBUG" in log  # the log really was at its most talkative
    leaks = flow.leaks(log, "the service log")
    leaks += flow.leaks("\n".join(cli_outputs), "the CLI's output")
    for body in flow.error_bodies:
        leaks += flow.leaks(body, f"an error body ({body[:60]}...)")
    assert not leaks, leaks
    figure("secrets", "requests in the flow (service process)", flow.requests)
    figure("secrets", "secrets looked for", len(flow.secrets))
    figure("secrets", "error bodies scanned", len(flow.error_bodies))
    figure("secrets", "service log lines scanned (debug)", log.count("\n"))


async def test_no_secret_in_app_logs_at_debug(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    conf_flow = Flow()
    admin_password = conf_flow.secret("admin password", "admin-" + secrets.token_urlsafe(12))
    entries = [new_key("k1")]
    conf_flow.key_secrets(entries)
    settings = app_support.make_settings(redis_url=redis_url)
    settings = settings.replace(admin__password=Secret(admin_password))
    keyring = KeyRing.from_mapping({"keys": entries})
    app = create_app(settings, keyring=keyring)
    server = TestServer(app)
    await server.start_server()
    try:

        async def add(name: str, password: str) -> None:
            await app[STORE].users.create(name, password)

        await _run_flow(str(server.make_url("")).rstrip("/"), conf_flow, admin_password, add)
    finally:
        await server.close()
    leaks = conf_flow.leaks(caplog.text, "the app's log records")
    for body in conf_flow.error_bodies:
        leaks += conf_flow.leaks(body, "an error body")
    assert not leaks, leaks
    figure("secrets", "log records scanned (in-process, debug)", len(caplog.records))


# ---------------------------------------------------------------- location


def _relocated(token: str, location: str, serialize: Callable[[Macaroon], str]) -> str:
    m = encoding.deserialize_any(token)[1]
    return serialize(dataclasses.replace(m, location=location))


def test_service_code_never_decides_on_a_location() -> None:
    """Only the codecs, examine (which reports it) and the verifier's opt-in pin read it."""
    readers = set()
    for path in sorted((ROOT / "service").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and node.attr == "location":
                readers.add(path.relative_to(ROOT).as_posix())
    allowed = {
        "service/tokens/encoding/v1.py",
        "service/tokens/encoding/v2.py",
        "service/tokens/macaroon.py",
        "service/tokens/examine.py",
        "service/tokens/verifier.py",
        "service/cli/token.py",
        # The remembered-signature shortcut honours the verifier's opt-in pin.
        "service/authority/verifying.py",
    }
    assert readers <= allowed, readers - allowed


async def test_a_changed_location_is_refused_and_a_changed_signature_too(
    aiohttp_client: Any,
) -> None:
    conf = app_support
    app = create_app(conf.make_settings(), keyring=conf.KEYRING)
    client = await aiohttp_client(app)
    await conf.add_user(client, "alice", "alice-password")
    alice = conf.basic("alice", "alice-password")
    resp = await client.post(f"{API}/user/tokens/named", json={"name": "t1"}, headers=alice)
    token = (await resp.json())["token"]
    moved = _relocated(token, "evil.example.org", encoding.serialize_onezone)
    assert moved != token

    async def verify(t: str) -> tuple[int, Any]:
        r = await client.post(f"{API}/tokens/verify_access_token", json={"token": t})
        return r.status, await r.json()

    status, body = await verify(token)
    assert status == 200
    # The location is not signed, so the service pins it: a token of another
    # location is not one of its tokens, whatever its signature.
    status, body = await verify(moved)
    assert status == 400 and body["error"]["id"] == "badToken", body
    examined = await client.post(f"{API}/tokens/examine", json={"token": moved})
    assert examined.status == 400
    assert (await examined.json())["error"]["details"]["tokenError"]["id"] == "badToken"
    # A changed signature fails too.
    m = encoding.deserialize_any(token)[1]
    forged = encoding.serialize_onezone(dataclasses.replace(m, signature=bytes(32)))
    status, body = await verify(forged)
    assert status == 400 and body["error"]["id"] == "tokenInvalid", body
    for refused in (moved, forged):
        resp = await client.get("/auth/check", headers={"X-Auth-Token": refused})
        assert resp.status == 401
    assert (await client.get("/auth/check", headers={"X-Auth-Token": token})).status == 200
    figure("location", "token with a changed location (signature intact)", "refused (badToken)")
    figure("location", "token with a changed signature", "refused (tokenInvalid)")
