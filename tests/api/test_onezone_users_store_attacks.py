"""Attacks through what Redis holds and how time is read, found by an outside attack.

Each test states what must hold; each failed before its fix.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from app_support import KEYRING, add_user, make_settings
from onezone_support import API, PASSWORD, Client, create_named, expect, expect_error, verify
from users_support import People

from service.app import create_app
from service.appkeys import AUTHORITY, STORE

LISTING = f"{API}/tokens/named"


@pytest.fixture
async def people(client: Client) -> People:
    return await People(client).setup()


# Values no script of this service writes in a name index (`<token id>:<expiry>`),
# which an index edited by hand or a corrupted store may hold.
ODD_VALUES = {
    "bytes that are not UTF-8": b"\xff\xfe:0",
    # str.isdigit() accepts it, int() does not.
    "an expiry in superscript digits": "a:\u00b2".encode(),
}


@pytest.mark.parametrize("value", ODD_VALUES.values(), ids=ODD_VALUES.keys())
async def test_a_name_index_value_that_is_not_ascii_text_breaks_no_listing(
    client: Client, people: People, value: bytes
) -> None:
    """Whatever a name index holds, every listing is JSON with the real tokens (today: 500).

    Every user's listing decodes each value as UTF-8 and reads its expiry with
    int() after str.isdigit(): an undecodable value or a non-ASCII digit is an
    unhandled exception, a 500 when it comes in the first round, a cut
    connection in any later one, so the admin cannot list at all. The user's
    own listing and an admin's listing of her tokens fail the same way.
    """
    tid, _ = await create_named(client, people.alice, "t1")
    store = client.app[STORE]
    await store.client.hset(store.keys.name_index(people.bob_id), "odd", value)
    await store.client.hset(store.keys.name_index(people.alice_id), "odd", value)
    body = await expect(await client.get(LISTING, headers=people.admin), 200)
    assert body == {"tokens": [tid]}
    for url, who in (
        (f"{API}/user/tokens/named", people.alice),
        (f"{API}/users/{people.alice_id}/tokens/named", people.admin),
    ):
        body = await expect(await client.get(url, headers=who), 200)
        assert tid in body["tokens"], url


async def test_a_name_index_of_another_type_breaks_no_listing(
    client: Client, people: People
) -> None:
    """One user's index that is not a hash does not deny the admin everyone's ids (today: 500).

    HSCAN answers WRONGTYPE, which is neither a store outage nor handled: the
    listing of every user's tokens fails for the sake of one key.
    """
    tid, _ = await create_named(client, people.alice, "t1")
    store = client.app[STORE]
    await store.client.set(store.keys.name_index(people.bob_id), "not a hash")
    body = await expect(await client.get(LISTING, headers=people.admin), 200)
    assert body == {"tokens": [tid]}


class SteppedClock:
    """The wall clock, as the service reads it, with a step such as NTP may make."""

    def __init__(self) -> None:
        self.step = 0.0

    def now(self) -> float:
        return time.time() + self.step

    def monotonic(self) -> float:
        return time.monotonic()


async def test_a_backward_clock_step_keeps_no_lookup_cached_beyond_max_staleness(
    aiohttp_client: Any,
) -> None:
    """A lookup is served from the cache for at most `cache.max_staleness` seconds of real time.

    The bound is what holds a revocation whose pub/sub message is lost (README:
    "the bound on a revocation's delay if its pub/sub message is lost"). Were
    an entry's age measured on the wall clock, a backward step of the system
    clock (NTP, a resumed VM) would keep it for as long again as the step:
    here a revoked token accepted 60 s beyond the bound.
    """
    clock = SteppedClock()
    settings = make_settings(cache__size=1000)
    client = await aiohttp_client(create_app(settings, clock=clock, keyring=KEYRING))
    store = client.app[STORE]
    await asyncio.wait_for(store.feed.subscribed.wait(), 5)
    uid = await add_user(client, "alice", PASSWORD)
    minted = await client.app[AUTHORITY].mint_named(uid, "t1", "access", [], {})
    await expect(await verify(client, minted.token), 200)
    hits = store.cache.hits
    await expect(await verify(client, minted.token), 200)
    assert store.cache.hits > hits, "the check was not cached: the test proves nothing"

    # Revoked behind the feed's back: the message that would drop the entry is lost.
    await store.client.hset(store.keys.named_record(uid, minted.token_id), "revoked", 1)
    clock.step = -60.0
    await asyncio.sleep(settings.cache.max_staleness + 0.3)
    await expect_error(await verify(client, minted.token), 400, "tokenRevoked")
