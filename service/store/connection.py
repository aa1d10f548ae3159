"""Open a Redis client from a URL (redis-py failures become domain errors in transport.py).

`memory://` is the embedded default: fakeredis in-process, with Lua. Its state
dies with the process, which the service says loudly at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff

from service.settings import EMBEDDED_SCHEME, RedisSettings, SettingsError

log = logging.getLogger(__name__)

Client = aioredis.Redis | RedisCluster


def _hosts(netloc: str, default_port: int) -> list[tuple[str, int]]:
    hosts = []
    for part in netloc.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            port = rest.lstrip(":") or str(default_port)
        else:
            host, _, port = part.rpartition(":") if ":" in part else (part, "", str(default_port))
        try:
            hosts.append((host, int(port)))
        except ValueError as e:
            raise SettingsError(f"redis.url: bad port in {part!r}") from e
    if not hosts:
        raise SettingsError("redis.url: no host")
    return hosts


def _split_auth(netloc: str) -> tuple[str | None, str | None, str]:
    if "@" not in netloc:
        return None, None, netloc
    auth, _, hosts = netloc.rpartition("@")
    user, _, password = auth.partition(":")
    return (unquote(user) or None), (unquote(password) or None), hosts


def _retry(settings: RedisSettings) -> Retry:
    # Only a failed connection is retried: after a timeout the command may
    # already have run (a mint, a rate-limit hit), and running it twice would
    # record or charge something that nobody was told about.
    return Retry(
        ExponentialBackoff(cap=0.2, base=0.01),
        settings.retry_attempts,
        supported_errors=(rex.ConnectionError,),
    )


def _common(settings: RedisSettings) -> dict[str, Any]:
    return {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": _retry(settings),
        "retry_on_error": [rex.ConnectionError],
        "health_check_interval": 0,
    }


def _open_embedded(settings: RedisSettings) -> Client:
    import fakeredis

    client: Client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    return client


def _open_server(settings: RedisSettings) -> Client:
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=settings.pool_size,
        timeout=settings.connect_timeout + settings.socket_timeout,
        **_common(settings),
    )
    return aioredis.Redis(connection_pool=pool)


def _open_sentinel(settings: RedisSettings) -> Client:
    parts = urlsplit(settings.url)
    user, password, netloc = _split_auth(parts.netloc)
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise SettingsError("redis.url: sentinel URL needs /<service name>")
    service_name = segments[0]
    try:
        db = int(segments[1]) if len(segments) > 1 else 0
    except ValueError as e:
        raise SettingsError("redis.url: bad database number") from e
    query = parse_qs(parts.query)
    sentinel_password = query.get("sentinel_password", [None])[0]
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        _hosts(netloc, 26379),
        sentinel_kwargs={
            "password": sentinel_password,
            "socket_timeout": settings.socket_timeout,
            "socket_connect_timeout": settings.connect_timeout,
        },
        username=user,
        password=password,
        db=db,
        max_connections=settings.pool_size,
        **_common(settings),
    )
    master: Client = sentinel.master_for(service_name)
    _SENTINELS[id(master)] = sentinel
    return master


def _open_cluster(settings: RedisSettings) -> Client:
    parts = urlsplit(settings.url)
    user, password, netloc = _split_auth(parts.netloc)
    nodes = [ClusterNode(h, p) for h, p in _hosts(netloc, 6379)]
    return RedisCluster(
        startup_nodes=nodes,
        username=user,
        password=password,
        max_connections=settings.pool_size,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=_retry(settings),
    )


# How each scheme of settings.REDIS_SCHEMES (the one table of schemes, which the
# settings check at load) is opened; a test holds the two key sets equal.
OPENERS: Mapping[str, Callable[[RedisSettings], Client]] = {
    EMBEDDED_SCHEME: _open_embedded,
    "redis": _open_server,
    "rediss": _open_server,
    "unix": _open_server,
    "redis+sentinel": _open_sentinel,
    "redis+cluster": _open_cluster,
}


def open_client(settings: RedisSettings) -> tuple[Client, bool]:
    """A client for `settings.url` and whether it is the embedded in-memory store."""
    opener = OPENERS.get(settings.scheme)
    if opener is None:
        raise SettingsError(f"redis.url: unsupported scheme {settings.scheme!r}")
    return opener(settings), settings.embedded


_SENTINELS: dict[int, Sentinel] = {}


async def close_client(client: Any) -> None:
    """Close a client with its pool (and a Sentinel's own connections)."""
    if isinstance(client, RedisCluster):
        await client.aclose()
        return
    await client.aclose(close_connection_pool=True)
    sentinel = _SENTINELS.pop(id(client), None)
    if sentinel is not None:
        for s in sentinel.sentinels:
            await s.aclose(close_connection_pool=True)
