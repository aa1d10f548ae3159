"""What service/adapters/redis_connection.py takes from redis-py's connection layer.

Each check names what changed, so an upgrade of redis-py that breaks the
direct batch path fails here first, with a message, rather than in a request.
"""

from __future__ import annotations

import inspect

import fakeredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool

from service.adapters.redis_connection import sends_directly


def _has(cls: type, name: str, *params: str) -> None:
    member = getattr(cls, name, None)
    assert member is not None, (
        f"redis-py changed: {cls.__name__}.{name} is gone "
        "(service/adapters/redis_connection.py sends batches with it)"
    )
    if params and callable(member):
        signature = inspect.signature(member)
        for param in params:
            assert param in signature.parameters, (
                f"redis-py changed: {cls.__name__}.{name} no longer takes {param!r} "
                f"(its signature is now {signature})"
            )


def test_the_connection_methods_the_direct_path_uses_are_there() -> None:
    _has(AbstractConnection, "pack_command")
    _has(AbstractConnection, "send_packed_command", "command")
    _has(AbstractConnection, "read_response", "timeout")
    _has(AbstractConnection, "can_read")
    _has(AbstractConnection, "disconnect", "nowait")
    _has(AbstractConnection, "is_connected")
    _has(ConnectionPool, "get_connection")
    _has(ConnectionPool, "release", "connection")
    for name in ("read_response", "can_read", "send_packed_command", "disconnect"):
        assert inspect.iscoroutinefunction(getattr(AbstractConnection, name)), (
            f"redis-py changed: AbstractConnection.{name} is no longer a coroutine function"
        )


def test_a_connection_has_an_encoder_and_a_socket_timeout() -> None:
    pool = aioredis.ConnectionPool.from_url("redis://127.0.0.1:1", socket_timeout=2.5)
    conn = pool.make_connection()
    assert conn.socket_timeout == 2.5, "redis-py changed: Connection.socket_timeout"
    encoder = conn.encoder
    assert isinstance(encoder.encoding, str) and isinstance(encoder.encoding_errors, str), (
        "redis-py changed: Connection.encoder no longer has encoding / encoding_errors"
    )
    packed = b"".join(conn.pack_command("SET", "k", "v"))
    assert packed == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", (
        "redis-py changed: Connection.pack_command no longer gives RESP as chunks of bytes"
    )


def test_a_client_exposes_its_callbacks_and_its_single_connection_state() -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1")
    assert isinstance(client.response_callbacks, dict), (
        "redis-py changed: Redis.response_callbacks is no longer a dict of command name to parser"
    )
    assert callable(client.response_callbacks.get("SET")), (
        "redis-py changed: no response callback for SET (the direct path applies them itself)"
    )
    assert client.single_connection_client is False, "redis-py changed: single_connection_client"
    assert client.connection is None, "redis-py changed: Redis.connection of a pooled client"
    assert sends_directly(client)
    single = aioredis.Redis.from_url("redis://127.0.0.1:1", single_connection_client=True)
    assert not sends_directly(single)


def test_the_embedded_store_takes_the_direct_path() -> None:
    assert sends_directly(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())), (
        "fakeredis changed: FakeAsyncRedis is no longer a pooled redis-py client"
    )
