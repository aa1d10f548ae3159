"""Confinement is inherited, on real Redis: a single redis-server and a three-master Cluster.

The lineage checks read ancestors' records that the scripts find by name in
the user's hash slot; a Cluster proves they stay in one slot, and real
servers prove the scripts, TTLs and the revocation feed, not fakeredis.
"""

from __future__ import annotations

import confinement_support as cs
import pytest
from app_support import ClientFactory, make_settings
from onezone_support import Client
from redis_procs import RedisCluster, RedisProcess

from service.clock import FakeClock


@pytest.fixture(params=["redis", "cluster"])
def real_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        server: RedisProcess = request.getfixturevalue("redis_server")
        server.flush()
        return server.url
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return cluster.url


async def _client(make_client: ClientFactory, url: str, cache: int = 0) -> Client:
    return await make_client(settings=make_settings(redis_url=url, cache__size=cache))


async def test_named_parent_kills_its_descendants(
    make_client: ClientFactory, real_url: str
) -> None:
    await cs.named_parent_kills_its_descendants(await _client(make_client, real_url))


async def test_named_parent_kills_its_descendants_through_the_cache(
    make_client: ClientFactory, real_url: str
) -> None:
    await cs.named_parent_kills_its_descendants(await _client(make_client, real_url, 1000))


async def test_temporary_parent_dies_with_its_generation(
    make_client: ClientFactory, real_url: str
) -> None:
    await cs.temporary_parent_dies_with_its_generation(await _client(make_client, real_url))


async def test_temporary_parent_through_the_cache(
    make_client: ClientFactory, real_url: str
) -> None:
    await cs.temporary_parent_dies_with_its_generation(await _client(make_client, real_url, 1000))


async def test_child_expires_with_its_parent(
    make_client: ClientFactory, real_url: str, clock: FakeClock
) -> None:
    await cs.child_expires_with_its_parent(await _client(make_client, real_url), clock)


async def test_lost_link_refuses_f5_child(make_client: ClientFactory, real_url: str) -> None:
    await cs.lost_link_refuses_f5_child(await _client(make_client, real_url))


async def test_chains_are_bounded(make_client: ClientFactory, real_url: str) -> None:
    await cs.chains_are_bounded(await _client(make_client, real_url))


async def test_hundreds_of_concurrent_mints_carry_the_caveats(
    make_client: ClientFactory, real_url: str
) -> None:
    cs.check_crowd(
        await cs.concurrent_mints_all_confined(await _client(make_client, real_url), 300)
    )


@pytest.mark.parametrize("parent_kind", ["named", "temporary"])
async def test_no_child_survives_a_concurrent_revocation(
    make_client: ClientFactory, real_url: str, parent_kind: str
) -> None:
    client = await _client(make_client, real_url)
    assert await cs.no_child_survives_a_concurrent_revocation(client, parent_kind) > 0


@pytest.mark.parametrize("parent_kind", ["named", "temporary"])
async def test_what_an_admins_token_mints_for_a_user_dies_with_it(
    make_client: ClientFactory, real_url: str, parent_kind: str
) -> None:
    client = await _client(make_client, real_url, 1000)
    await cs.what_an_admins_token_mints_dies_with_it(client, parent_kind)


async def test_one_foreign_hop(make_client: ClientFactory, real_url: str) -> None:
    await cs.one_foreign_hop(await _client(make_client, real_url))


async def test_no_foreign_child_survives_a_concurrent_revocation(
    make_client: ClientFactory, real_url: str
) -> None:
    minted = await cs.no_foreign_child_survives_a_concurrent_revocation(
        await _client(make_client, real_url)
    )
    assert minted > 0
