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
pipeline machinery: the batch goes through `service.adapters.redis_connection`,
packed in one buffer on a connection borrowed from the client's own pool. A
cluster client keeps redis-py's pipeline, which routes each command to its
slot's node.
"""

from __future__ import annotations

import asyncio
from typing import Any

from service.adapters.redis_connection import Batch, DirectSender, sends_directly
from service.metrics import REDIS_COMMANDS, REDIS_ROUND_TRIPS, TALLY

# Enough to amortise a round trip, small enough to keep replies prompt.
MAX_BATCH = 256


class CommandBatcher:
    """Queues commands and sends each tick's queue to Redis in one round trip."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._pending: Batch = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._direct = DirectSender(client) if sends_directly(client) else None
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
            if self._direct is not None:
                await self._direct.send(live)
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

    @property
    def kept_connections(self) -> int:
        """How many connections wait, kept, for the next batch."""
        return 0 if self._direct is None else self._direct.kept

    async def close(self) -> None:
        """Wait for the batches already sent, then give the kept connections back."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._direct is not None:
            await self._direct.close()
