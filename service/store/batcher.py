"""Implicit pipelining: the commands that concurrent requests issue in one event-loop tick
travel to Redis together (one write, one read).

Each command keeps its own atomicity (a script is atomic on its own) and its own
outcome: replies come back to their callers in order, an error reply fails only
its command. Separate batches (of separate ticks, or a full batch and the rest)
may travel on separate connections, so Redis may run them in either order; a
caller that needs an order awaits the first reply before sending the next. A
failure of the connection fails every command whose reply had not arrived,
which the store turns into StoreUnavailable / StoreTimeout.

A plain client (one Redis, Sentinel, the embedded fakeredis) skips redis-py's
pipeline machinery, a sixth of a mint's CPU: the batch is packed into one buffer,
written with one `send_packed_command` and read with `read_response` under one
deadline, on a connection borrowed from the client's own pool. Nothing is ever
sent twice: the only retries are the connection's own, while connecting, before
anything is written. A cluster client keeps redis-py's pipeline, which routes
each command to its slot's node.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as rex

from service.metrics import REDIS_COMMANDS, REDIS_ROUND_TRIPS, TALLY

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - redis[hiredis] is a dependency
    _hiredis_pack = None

# Enough to amortise a round trip, small enough to keep replies prompt.
MAX_BATCH = 256
# Connections kept between batches: checking one out of redis-py's blocking
# pool (a condition, a timer, metrics hooks) costs more than the commands of a
# small batch. Batches in flight at once are few, so a handful suffices.
KEPT_CONNECTIONS = 4

Batch = list[tuple[tuple[Any, ...], asyncio.Future[Any]]]


class CommandBatcher:
    """Queues commands and sends each tick's queue to Redis in one round trip."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._pending: Batch = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._kept: list[Any] = []
        self._direct = (
            isinstance(client, aioredis.Redis)
            and not client.single_connection_client
            and client.connection is None
        )
        self.round_trips = 0
        self.commands = 0

    def execute(self, *args: Any) -> asyncio.Future[Any]:
        """Queue one command; the future resolves to its reply or its error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((args, future))
        if len(self._pending) >= MAX_BATCH:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: Batch) -> None:
        live = [(args, f) for args, f in batch if not f.done()]
        if not live:
            return
        self.round_trips += 1
        self.commands += len(live)
        TALLY.inc(REDIS_ROUND_TRIPS)
        TALLY.inc(REDIS_COMMANDS, len(live))
        try:
            if self._direct:
                await self._send_direct(live)
            else:
                await self._send_pipeline(live)
        except asyncio.CancelledError:
            for _, f in live:
                if not f.done():
                    f.cancel()
            raise
        except BaseException as e:  # the commands still waiting share the failure
            for _, f in live:
                if not f.done():
                    f.set_exception(e)

    async def _send_direct(self, live: Batch) -> None:
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

    async def _send_pipeline(self, live: Batch) -> None:
        if len(live) == 1:
            args, f = live[0]
            reply = await self._client.execute_command(*args)
            if not f.done():
                f.set_result(reply)
            return
        pipe = self._client.pipeline(transaction=False)
        for args, _ in live:
            pipe.execute_command(*args)
        replies = await pipe.execute(raise_on_error=False)
        for (_, f), reply in zip(live, replies, strict=True):
            if f.done():
                continue
            if isinstance(reply, BaseException):
                f.set_exception(reply)
            else:
                f.set_result(reply)

    async def close(self) -> None:
        """Wait for the batches already sent, then give the kept connections back."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
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
