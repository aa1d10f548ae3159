"""redis-py's connection layer, used to send a batch of commands without its pipeline.

Everything below reaches into redis-py beneath its documented client API: a
pool's `get_connection` / `release`, a connection's `pack_command`,
`send_packed_command`, `read_response(timeout=)`, `can_read`, `is_connected`,
`encoder` and `disconnect(nowait=)`, and a client's `response_callbacks`,
`single_connection_client` and `connection`. They are used here only;
tests/adapters/test_redis_adapter.py fails with a clear message when redis-py
changes any of them.

Nothing is ever sent twice: the only retries are the connection's own, while
connecting, before anything is written.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as rex

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - redis[hiredis] is a dependency
    _hiredis_pack = None

# Connections kept between batches: checking one out of redis-py's blocking
# pool (a condition, a timer, metrics hooks) costs more than the commands of a
# small batch. Batches in flight at once are few, so a handful suffices.
KEPT_CONNECTIONS = 4

Batch = list[tuple[tuple[Any, ...], asyncio.Future[Any]]]


def sends_directly(client: Any) -> bool:
    """Whether `client` is a plain pooled client whose connections `DirectSender` may borrow."""
    return (
        isinstance(client, aioredis.Redis)
        and not client.single_connection_client
        and client.connection is None
    )


class DirectSender:
    """Sends a batch packed in one buffer on a connection of the client's own pool.

    The replies are read under one deadline (the connection's socket timeout)
    and passed through the client's response callbacks, so each caller gets
    what the client's own method would have returned.
    """

    __slots__ = ("_client", "_kept")

    def __init__(self, client: Any) -> None:
        self._client = client
        self._kept: list[Any] = []

    @property
    def kept(self) -> int:
        """How many connections are kept for the next batch."""
        return len(self._kept)

    async def send(self, live: Batch) -> None:
        """Send the commands of `live` and settle each future with its reply or its error."""
        client = self._client
        pool = client.connection_pool
        conn = await self._connection(pool)
        kept = False
        try:
            sent = _pack_batch(conn, live)
            if not sent:
                return
            await conn.send_packed_command(b"".join(packed for packed, _, _ in sent))
            callbacks = client.response_callbacks
            try:
                # One deadline for the whole batch instead of one timer per reply.
                async with asyncio.timeout(conn.socket_timeout):
                    for _, name, f in sent:
                        try:
                            reply = await conn.read_response(timeout=math.inf)
                        except rex.ResponseError as e:
                            if not f.done():
                                f.set_exception(e)
                            continue
                        if f.done():
                            continue
                        callback = callbacks.get(name) if isinstance(name, str) else None
                        if callback is None:
                            f.set_result(reply)
                            continue
                        try:
                            f.set_result(callback(reply))
                        except Exception as e:
                            f.set_exception(e)
            except TimeoutError as e:
                # read_response has closed the connection: its replies are out of step.
                raise rex.TimeoutError(f"Timeout reading from {conn!r}") from e
            if len(self._kept) < KEPT_CONNECTIONS:
                self._kept.append(conn)
                kept = True
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        finally:
            if not kept:
                await pool.release(conn)

    async def _connection(self, pool: Any) -> Any:
        """A kept connection that is still open and in step, else one from the pool."""
        while self._kept:
            conn = self._kept.pop()
            try:
                # No syscall: buffered bytes or an EOF already seen mean it cannot be used.
                if conn.is_connected and not await conn.can_read():
                    return conn
            except Exception:  # noqa: S110 - closed under us: the pool will make another
                pass
            await conn.disconnect(nowait=True)
            await pool.release(conn)
        return await pool.get_connection()

    async def close(self) -> None:
        """Give the kept connections back to the pool."""
        kept, self._kept = self._kept, []
        for conn in kept:
            await self._client.connection_pool.release(conn)


def _pack_batch(conn: Any, live: Batch) -> list[tuple[bytes, Any, asyncio.Future[Any]]]:
    """Each command in RESP with its name; a command that cannot be encoded fails alone."""
    encoder = conn.encoder
    fast = (
        _hiredis_pack
        if encoder.encoding.lower().replace("-", "") == "utf8"
        and encoder.encoding_errors == "strict"
        else None
    )
    sent = []
    for args, f in live:
        if f.done():
            continue
        name = args[0]
        try:
            if fast is not None and type(name) is str and " " not in name:
                try:
                    packed = fast(args)
                except TypeError:  # bool, bytearray, a str subclass…: redis-py decides below
                    packed = b"".join(conn.pack_command(*args))
            else:
                # redis-py's own packer: splits "SCRIPT LOAD", honours the client's encoding.
                packed = b"".join(conn.pack_command(*args))
        except Exception as e:
            f.set_exception(e)
            continue
        sent.append((packed, name, f))
    return sent
