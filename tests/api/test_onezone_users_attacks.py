"""Attacks on the admin routes of the Onezone dialect, found by an outside attack.

Each test states what must hold; each failed before its fix.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from onezone_support import API, Client, create_named, expect, expect_error, verify
from users_support import People, as_token, users

from service.appkeys import STORE

NOW = 1_700_000_000
LISTING = f"{API}/tokens/named"


@pytest.fixture
async def people(client: Client) -> People:
    return await People(client).setup()


async def _raw_get(client: Client, path: str, headers: dict[str, str]) -> Any:
    """A GET on a raw connection: (reader, writer), the request sent."""
    assert client.server.host is not None and client.server.port is not None
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    return reader, writer


async def test_a_client_leaving_mid_listing_is_not_a_server_error(
    client: Client,
    people: People,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An admin's client that stops reading every token id is no unhandled error, no 500.

    Once only StoreError was caught after the reply had begun: the failed
    write reached the edge, which counted a 500 (access log and metrics) and,
    for the write's ConnectionError (as under `serve`), logged "unhandled
    error" at ERROR with a traceback, for every client that timed out or was
    interrupted.
    """
    caplog.set_level(logging.INFO)
    gone = asyncio.Event()

    async def steps() -> Any:
        yield ["a" * 32]
        await gone.wait()
        await asyncio.sleep(0.05)
        for _ in range(20):
            yield ["b" * 32] * 2000

    monkeypatch.setattr(client.app[STORE].named, "iter_ids", steps)
    reader, writer = await _raw_get(client, LISTING, people.admin)
    await asyncio.wait_for(reader.readuntil(b'{"tokens":['), 5)
    writer.transport.abort()
    gone.set()

    def statuses() -> list[int]:
        return [
            r.msg["status"]
            for r in caplog.records
            if isinstance(r.msg, dict) and r.msg.get("route") == LISTING
        ]

    for _ in range(250):  # the handler's end, as the access log records it
        if statuses():
            break
        await asyncio.sleep(0.02)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert statuses() and 500 not in statuses()


async def test_an_admin_token_gets_no_serialized_token_of_another_user(
    client: Client, people: People
) -> None:
    """A token credential is refused another user's serialized tokens, as it is minting for them.

    Minting for another user takes Basic credentials because whatever a token
    mints must die with it. Reading the user's serialized token gives the
    same thing without minting: a credential of alice's that outlives the
    admin's token (its time caveat, its revocation), and that mints alice
    tokens of its own through POST /user/tokens/named.
    """
    _, admin_token = await create_named(
        client, people.admin, "admin-token", caveats=[{"type": "time", "validUntil": NOW + 60}]
    )
    tid, _ = await create_named(client, people.alice, "hers")
    headers = as_token(admin_token)
    for url in (f"{API}/tokens/named/{tid}", f"{users(people.alice_id)}/named/name/hers"):
        resp = await client.get(url, headers=headers)
        body = await resp.json()
        assert resp.status == 403, f"{url}: {resp.status}, token {body.get('token', '')[:24]}..."


async def test_after_revoking_the_admin_token_nothing_it_took_works(
    client: Client, people: People
) -> None:
    """The consequence of the above: the admin's token revoked, what it took still mints for alice."""
    admin_tid, admin_token = await create_named(client, people.admin, "admin-token")
    tid, _ = await create_named(client, people.alice, "hers")
    resp = await client.get(f"{API}/tokens/named/{tid}", headers=as_token(admin_token))
    taken = (await resp.json()).get("token")
    await expect(
        await client.patch(
            f"{API}/tokens/named/{admin_tid}", json={"revoked": True}, headers=people.admin
        ),
        204,
    )
    await expect_error(await verify(client, admin_token), 400, "tokenRevoked")
    if taken is None:
        return
    resp = await client.post(
        f"{API}/user/tokens/named", json={"name": "via-admin"}, headers=as_token(taken)
    )
    assert resp.status != 201, "a token for alice minted through the revoked admin token's take"


async def test_the_status_of_a_child_of_a_revoked_token_says_revoked(
    client: Client, people: People
) -> None:
    """`GET /tokens/named/{id}/status` of a token that dies with its revoked parent.

    Verification refuses the child (tokenRevoked), yet its status, its
    NamedToken (`revoked`) and the admin's listing all present it as alive.
    """
    parent_id, parent = await create_named(client, people.alice, "parent")
    created = await expect(
        await client.post(
            f"{users(people.alice_id)}/named", json={"name": "child"}, headers=as_token(parent)
        ),
        201,
    )
    child_id = created["tokenId"]
    await expect(
        await client.patch(
            f"{API}/tokens/named/{parent_id}", json={"revoked": True}, headers=people.alice
        ),
        204,
    )
    await expect_error(await verify(client, created["token"]), 400, "tokenRevoked")
    for who in (people.alice, people.admin):
        status = await expect(
            await client.get(f"{API}/tokens/named/{child_id}/status", headers=who), 200
        )
        assert status == {"revoked": True}
        named = await expect(await client.get(f"{API}/tokens/named/{child_id}", headers=who), 200)
        assert named["revoked"] is True
