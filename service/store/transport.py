"""The one way to Redis: every command of the store goes through `Transport`.

Commands are queued on the batcher (one pipeline per event-loop tick, see
batcher.py); scripts are called by EVALSHA and loaded again after NOSCRIPT
(a Redis restarted or failed over). `operation` decorates each store
operation: redis-py's failures leave it as the service's domain errors
(`StoreUnavailable`, `StoreTimeout`) and its duration is observed under the
operation's name.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

import redis.exceptions as rex
from redis.exceptions import NoScriptError, ResponseError

from service.errors import StoreTimeout, StoreUnavailable
from service.metrics import REDIS_ERRORS, REDIS_LATENCY, TALLY

from .batcher import CommandBatcher
from .scripts import Scripts

P = ParamSpec("P")
T = TypeVar("T")

# A script queued in this tick's batch: the script, its EVALSHA arguments, its reply.
Queued = tuple[Any, tuple[Any, ...], "asyncio.Future[Any]"]

# Error replies that mean the store cannot serve now, not that the command was wrong.
_UNAVAILABLE_REPLIES = ("LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY")


def _retrieved(future: asyncio.Future[Any]) -> None:
    # A reply nobody awaits any more (its sibling in the batch failed first)
    # must not be logged as a lost exception.
    if not future.cancelled():
        future.exception()


def operation(
    name: str,
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Decorate a store operation: domain errors for redis-py failures, latency under `name`."""

    def decorate(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        latency = REDIS_LATENCY.labels(name)

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            started = time.perf_counter()
            try:
                result = await fn(*args, **kwargs)
            except (TimeoutError, rex.TimeoutError) as e:
                REDIS_ERRORS.labels("timeout").inc()
                raise StoreTimeout("the store did not answer in time") from e
            except (rex.ConnectionError, rex.BusyLoadingError, rex.ClusterError, OSError) as e:
                REDIS_ERRORS.labels("unavailable").inc()
                raise StoreUnavailable("the store is unavailable") from e
            except rex.ResponseError as e:
                if str(e).startswith(_UNAVAILABLE_REPLIES):
                    REDIS_ERRORS.labels("unavailable").inc()
                    raise StoreUnavailable("the store is unavailable") from e
                raise
            except rex.RedisClusterException as e:
                REDIS_ERRORS.labels("unavailable").inc()
                raise StoreUnavailable("the store is unavailable") from e
            TALLY.observe(latency, time.perf_counter() - started)
            return result

        return wrapper

    return decorate


def translate_errors(
    fn: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """`operation` named after the decorated coroutine."""
    return operation(fn.__name__)(fn)


class Transport:
    """Redis commands and scripts of one client, batched per event-loop tick."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.scripts = Scripts(client)
        self.batcher = CommandBatcher(client)
        # Queue one command; the future resolves to its reply or its error.
        self.execute = self.batcher.execute

    async def call(self, *args: Any) -> Any:
        """One command's reply (batched with the others of this tick)."""
        return await self.execute(*args)

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run a script (EVALSHA), loading it again after NOSCRIPT."""
        return await self.reply(self.queue(name, keys, args))

    def queue(self, name: str, keys: list[str], args: list[Any]) -> Queued:
        """Queue a script in this tick's batch now; `reply` awaits it.

        Several scripts queued before the first await travel in one round trip
        without a task each (as asyncio.gather of coroutines would need).
        """
        script = self.scripts[name]
        argv = (len(keys), *keys, *args)
        future = self.execute("EVALSHA", script.sha, *argv)
        future.add_done_callback(_retrieved)
        return script, argv, future

    def queue_command(self, *args: Any) -> asyncio.Future[Any]:
        """Queue a command in this tick's batch now, to be awaited later (or never)."""
        future = self.execute(*args)
        future.add_done_callback(_retrieved)
        return future

    async def reply(self, queued: Queued) -> Any:
        """The reply of a queued script."""
        script, argv, future = queued
        try:
            return await future
        except NoScriptError:
            script.sha = await self.client.script_load(script.script)
            return await self.execute("EVALSHA", script.sha, *argv)

    async def gather(
        self, commands: Sequence[tuple[Any, ...]], *, strict: bool = False
    ) -> list[Any]:
        """Several commands in one batch, their replies in order (no task each).

        A command's error reply (e.g. WRONGTYPE) is its reply, unless `strict`
        (then it is raised); a failure of the connection fails the whole.
        """
        replies = await asyncio.gather(
            *(self.execute(*c) for c in commands), return_exceptions=True
        )
        for reply in replies:
            if isinstance(reply, BaseException) and (
                strict or not isinstance(reply, ResponseError)
            ):
                raise reply
        return list(replies)

    async def load_scripts(self) -> None:
        """Load every script now, so that the first request does not pay for it."""
        await self.scripts.load(self.client)

    async def close(self) -> None:
        """Wait for the batches already sent and give the batcher's connections back."""
        await self.batcher.close()
