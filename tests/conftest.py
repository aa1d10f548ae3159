"""Shared fixtures: test settings, and real redis-server processes started on free ports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from redis_procs import RedisCluster, RedisProcess, RedisSentinel, require_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """A real redis-server shared by the session; flush it with `redis_url`."""
    require_redis()
    server = RedisProcess()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """The shared real Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A real redis-server of this test's own, free to be killed, paused and restarted."""
    require_redis()
    server = RedisProcess()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A real three-master Redis Cluster shared by the session."""
    require_redis()
    cluster = RedisCluster()
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinel]:
    """A real master, replica and three Sentinels shared by the session."""
    require_redis()
    sentinel = RedisSentinel()
    sentinel.start()
    yield sentinel
    sentinel.close()
