"""The operator interface: token inspect offline, keys generate, and store commands on a real Redis."""

from __future__ import annotations

import base64
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis_procs import RedisProcess

from service import settings as settings_mod
from service.authority import Authority
from service.cli import GC_GEN0_THRESHOLD, settle_heap
from service.clock import SystemClock
from service.errors import TokenRejected
from service.store import Store
from service.tokens import encoding
from service.tokens.caveats import TimeCaveat
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier
from service.tokens.keys import KeyRing, SigningKey
from service.tokens.macaroon import Caveat, Macaroon, mint

SEED = "MDAxNWxvY2F00aW9uIG9uZXpvbmUKMDAzYmlkZW500aWZpZXIgSlVxNGFLVkJSTXVFN3FLbHNQVHlNX00lLeHpYZXNWdVFSMGNfMldpOXFZNAowMDFhY2lkIHRpbWUgPCAxNTIyMzU4MzMzCjAwMmZzaWduYXR1cmUgv02ByyOA9802H02rPMB7Y9mIhDVAjYDmjAUjtrMs13znukK"
V2 = "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAhRhY2NvdW50ID0gMzczNTkyODU1OQAABiD1SAf23G7fiL8PcwazgiVio2JTPb9zObphdl2kvSWdhw"


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEN_SERVICE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def _minted(location: str = "onezone") -> tuple[str, str]:
    """A named token of this service's form (its id and the token), signed with some key."""
    ident = OnezoneIdentifier("named", None, "alice", "access", "ab" * 16)
    m = mint(b"k" * 32, ident.encode(), location, ["time < 1900000000", "interface = rest"])
    return "ab" * 16, encoding.serialize_onezone(m)


def test_inspect_shows_each_caveat_as_json() -> None:
    texts = ["http.method = GET", "http.path = /orders/**", "http.host = a.example", "bogus = 1"]
    ident = F5Identifier("ns1", "app1", 3, "alice", "ab" * 16)
    token = encoding.serialize_v2(mint(b"k" * 32, ident.encode(), "f5xc", texts))
    out = run("token", "inspect", token)
    assert out.returncode == 0, out.stderr
    assert "kind: f5" in out.stdout and "namespace: ns1" in out.stdout
    assert '  json: {"type": "http.method", "methods": ["GET"]}' in out.stdout
    assert '  json: {"type": "http.path", "patterns": ["/orders/**"]}' in out.stdout
    assert '  json: {"type": "http.host", "hosts": ["a.example"]}' in out.stdout
    assert "caveat: bogus = 1\n  not understood (unknown caveat)" in out.stdout


def test_inspect_every_encoding_of_a_token() -> None:
    tid, token = _minted()
    m = encoding.deserialize_onezone(token, 4096)
    for fmt, text in (
        ("onezone", token),
        ("v1", encoding.serialize_v1(m)),
        ("v2", encoding.serialize_v2(m)),
        ("v2", base64.b64encode(encoding.encode_v2(m)).decode()),
    ):
        out = run("token", "inspect", text)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert f"format: {fmt}" in lines
        assert "location: onezone" in lines
        assert "kind: onezone named access token" in lines
        assert f"id: {tid}" in lines and "subject: usr-alice" in lines
        assert "caveat: time < 1900000000" in lines
        assert '  json: {"type": "time", "validUntil": 1900000000}' in lines
        sig = next(line for line in lines if line.startswith("signature: "))
        assert len(sig.split(": ")[1]) == 64


def test_inspect_refuses_what_is_not_ours() -> None:
    # The seed's legacy identifier, a foreign V2 macaroon, another location,
    # a third-party caveat: one line each, no guess.
    _, moved = _minted("evil.example")
    _, token = _minted()
    m = encoding.deserialize_onezone(token, 4096)
    third = Macaroon(m.location, m.identifier, (*m.caveats, Caveat(b"tp", b"v", "x")), m.signature)
    for text, reason in (
        (SEED, "bad token identifier"),
        (V2, "bad token identifier"),
        (moved, "token issued for another location"),
        (encoding.serialize_v2(third), "third-party caveats are not supported"),
    ):
        out = run("token", "inspect", text)
        assert out.returncode == 1
        assert out.stderr.startswith("error: not a token of this service: " + reason)
        assert out.stderr.count("\n") == 1 and out.stdout == ""
    # The configured domain is the one expected.
    out = run("token", "inspect", moved, env={"TOKEN_SERVICE_ONEZONE_DOMAIN": "evil.example"})
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("garbage", ["", "!!!", "MDAx", "AgET", "x" * 5000])
def test_inspect_garbage_is_one_line_error(garbage: str) -> None:
    out = run("token", "inspect", garbage)
    assert out.returncode != 0
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error:")
    assert "Traceback" not in out.stderr


def test_keys_generate_prints_a_usable_entry() -> None:
    out = run("keys", "generate", "--kid", "k9")
    entry = json.loads(out.stdout)
    assert entry["kid"] == "k9" and entry["state"] == "active"
    KeyRing.from_mapping({"keys": [entry]})


def test_bad_setting_is_a_startup_error_naming_the_key() -> None:
    out = run("serve", env={"TOKEN_SERVICE_SERVER_PORT": "eighty"})
    assert out.returncode == 2
    assert "TOKEN_SERVICE_SERVER_PORT" in out.stderr and "Traceback" not in out.stderr


def test_store_commands_need_a_real_store() -> None:
    out = run("users", "list")
    assert out.returncode == 2 and "memory://" in out.stderr


def test_users_and_namespaces_on_real_redis(redis_url: str, redis_server: RedisProcess) -> None:
    env = {"TOKEN_SERVICE_REDIS_URL": redis_url}
    assert run("users", "add", "alice", "--password-stdin", env=env, stdin="pw\n").returncode == 0
    assert run("users", "add", "alice", "--password-stdin", env=env, stdin="pw\n").returncode == 1
    assert (
        run("users", "add", "root", "--admin", "--password-stdin", env=env, stdin="pw\n").returncode
        == 0
    )
    listed = run("users", "list", env=env).stdout
    assert "alice" in listed and "root" in listed and "admin" in listed
    assert (
        run("users", "passwd", "alice", "--password-stdin", env=env, stdin="new\n").returncode == 0
    )
    assert run("namespaces", "add", "ns1", env=env).returncode == 0
    assert run("namespaces", "grant", "ns1", "alice", "editor", env=env).returncode == 0
    assert run("namespaces", "grant", "ns1", "nobody", "editor", env=env).returncode == 1
    assert "ns1" in run("namespaces", "list", env=env).stdout
    assert run("namespaces", "revoke", "ns1", "alice", env=env).returncode == 0
    assert run("namespaces", "remove", "ns1", env=env).returncode == 0
    assert run("users", "remove", "alice", env=env).returncode == 0
    assert "alice" not in run("users", "list", env=env).stdout


@pytest.fixture
async def authority(redis_url: str) -> AsyncIterator[Authority]:
    """Mints into the Redis the commands act on, as the service would (real records)."""
    settings = settings_mod.load(environ={}).replace(redis__url=redis_url)
    store = Store(settings.redis)
    keyring = KeyRing([SigningKey("k1", b"\x01" * 32, "active")])
    yield Authority(settings, keyring, store, SystemClock())
    await store.close()


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_users_tokens_lists_live_named_tokens(redis_url: str, authority: Authority) -> None:
    env = {"TOKEN_SERVICE_REDIS_URL": redis_url}
    alice = await authority.store.users.create("alice", "pw")
    out = run("users", "tokens", "alice", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "no named tokens\ntemporary tokens: generation 0\n"

    later = int(time.time()) + 3600
    zeta = await authority.mint_named(alice.id, "zeta", "access", [TimeCaveat(later)], {})
    alpha = await authority.mint_named(alice.id, "alpha two", "identity", [], {})
    mid = await authority.mint_named(alice.id, "mid", "access", [], {}, revoked=True)
    gone = await authority.mint_named(alice.id, "gone", "access", [TimeCaveat(1_600_000_000)], {})
    temporary = await authority.mint_temporary(alice.id, "access", [TimeCaveat(later)])
    await authority.store.temporary.revoke(alice.id, 3600)
    created = {
        t.token_id: _iso(
            int((await authority.store.named.get(alice.id, t.token_id) or {})["created"])
        )
        for t in (zeta, alpha, mid)
    }

    out = run("users", "tokens", "alice", env=env)
    assert out.returncode == 0, out.stderr
    header, *rows, last = out.stdout.splitlines()
    assert last == "temporary tokens: generation 1"
    # Aligned: each column starts where its heading does (a name may hold spaces).
    headings = ["ID", "NAME", "TYPE", "CREATED", "EXPIRES", "REVOKED"]
    starts = [header.index(h) for h in headings]
    assert header.split() == headings and starts[0] == 0
    cells = [
        [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)] for row in rows
    ]
    assert all(row[b - 2 : b] == "  " for row in rows for b in starts[1:])
    # Ordered by name; the expired token is not there.
    assert cells == [
        [alpha.token_id, "alpha two", "identity", created[alpha.token_id], "never", "no"],
        [mid.token_id, "mid", "access", created[mid.token_id], "never", "yes"],
        [zeta.token_id, "zeta", "access", created[zeta.token_id], _iso(later), "no"],
    ]
    assert gone.token_id not in out.stdout
    for minted in (zeta, alpha, mid, gone, temporary):
        assert minted.token not in out.stdout
    assert out.stderr == ""


async def test_users_tokens_json(redis_url: str, authority: Authority) -> None:
    env = {"TOKEN_SERVICE_REDIS_URL": redis_url}
    alice = await authority.store.users.create("alice", "pw")
    out = run("users", "tokens", "alice", "--json", env=env)
    assert json.loads(out.stdout) == {"tokens": [], "temporaryGeneration": 0}

    later = int(time.time()) + 3600
    b = await authority.mint_named(alice.id, "b", "identity", [TimeCaveat(later)], {}, revoked=True)
    a = await authority.mint_named(alice.id, "a", "access", [], {})
    await authority.mint_named(alice.id, "old", "access", [TimeCaveat(1_600_000_000)], {})
    records = {t: await authority.store.named.get(alice.id, t) for t in (a.token_id, b.token_id)}

    out = run("users", "tokens", "alice", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "tokens": [
            {
                "id": a.token_id,
                "name": "a",
                "type": "access",
                "creationTime": int((records[a.token_id] or {})["created"]),
                "expires": None,
                "revoked": False,
            },
            {
                "id": b.token_id,
                "name": "b",
                "type": "identity",
                "creationTime": int((records[b.token_id] or {})["created"]),
                "expires": later,
                "revoked": True,
            },
        ],
        "temporaryGeneration": 0,
    }
    assert a.token not in out.stdout and b.token not in out.stdout


def test_users_tokens_of_an_unknown_user(redis_url: str) -> None:
    env = {"TOKEN_SERVICE_REDIS_URL": redis_url}
    for args in (("tokens", "nobody"), ("tokens", "nobody", "--json"), ("revoke-tokens", "nobody")):
        out = run("users", *args, env=env)
        assert out.returncode == 1
        assert out.stderr == "error: no user nobody\n" and out.stdout == ""


async def test_users_revoke_tokens_kills_every_token(redis_url: str, authority: Authority) -> None:
    env = {"TOKEN_SERVICE_REDIS_URL": redis_url}
    alice = await authority.store.users.create("alice", "pw")
    bob = await authority.store.users.create("bob", "pw")
    later = int(time.time()) + 3600
    named = [await authority.mint_named(alice.id, f"t{i}", "access", [], {}) for i in range(3)]
    temporary = await authority.mint_temporary(alice.id, "access", [TimeCaveat(later)])
    kept = await authority.mint_named(bob.id, "kept", "access", [], {})
    for minted in (*named, temporary, kept):
        await authority.verify_onezone(minted.token, authority.context())

    out = run("users", "revoke-tokens", "alice", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("deleted 3 named token(s) of alice;")
    assert "(generation 1)" in out.stdout
    for minted in (*named, temporary):
        with pytest.raises(TokenRejected):
            await authority.verify_onezone(minted.token, authority.context())
    await authority.verify_onezone(kept.token, authority.context())
    listed = json.loads(run("users", "tokens", "alice", "--json", env=env).stdout)
    assert listed == {"tokens": [], "temporaryGeneration": 1}
    # Nothing left to delete: the switch may be thrown again.
    out = run("users", "revoke-tokens", "alice", env=env)
    assert out.stdout.startswith("deleted 0 named token(s) of alice;")
    assert "(generation 2)" in out.stdout


def test_request_log_is_one_json_line_per_request() -> None:
    import json as _json
    import time
    import urllib.request

    from redis_procs import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEN_SERVICE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/healthz", headers={"X-Request-Id": "req-42"}
                )
                with urllib.request.urlopen(req, timeout=2) as resp:
                    assert resp.headers["X-Request-Id"] == "req-42"
                break
            except OSError:
                assert time.monotonic() < deadline, "service did not start"
                time.sleep(0.05)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if line.startswith("{")]
    records = [_json.loads(line) for line in lines]
    hit = [r for r in records if r.get("request_id") == "req-42"]
    assert hit and hit[0]["route"] == "/healthz" and hit[0]["status"] == 200
    assert {"method", "duration_ms", "subject"} <= set(hit[0])


def test_settle_heap_freezes_start_up_objects_and_spaces_young_collections() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_entry_point_names_the_package_main() -> None:
    """pyproject's console script and `python -m service.cli` reach every command group."""
    import importlib
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    module, _, attr = project["project"]["scripts"]["token-service"].partition(":")
    main = getattr(importlib.import_module(module), attr)
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = subprocess.run(
        [sys.executable, "-m", "service.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for command in ("serve", "users", "namespaces", "keys", "token"):
        assert command in out, command
