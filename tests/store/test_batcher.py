"""The command batcher: per-command replies and errors, one write per batch, no resends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.exceptions as rex
from fakeredis.aioredis import FakeAsyncRedisConnection
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection
from redis_procs import RedisProcess, RedisSentinel

from service.settings import RedisSettings
from service.store.batcher import MAX_BATCH, CommandBatcher
from service.store.connection import close_client, open_client

SCRIPT = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}"
# Busy for two seconds: Redis neither answers nor flushes earlier replies meanwhile.
BUSY = """
local t = redis.call('TIME')
repeat local n = redis.call('TIME') until (n[1] - t[1]) * 1e6 + (n[2] - t[2]) >= 2e6
"""


@pytest.fixture(params=["memory", "redis", "sentinel"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        sentinel: RedisSentinel = request.getfixturevalue("redis_sentinel")
        sentinel.flush()
        url = sentinel.url
    c, _ = open_client(RedisSettings(url=url))
    yield c
    await close_client(c)


async def _state(client: Any) -> str:
    await client.flushdb()
    await client.hset("h", mapping={"a": 1, "b": "x"})
    await client.set("s", "v")
    return str(await client.script_load(SCRIPT))


def _outcome(result: Any) -> Any:
    if isinstance(result, BaseException):
        return type(result), str(result)
    return result


async def test_replies_and_errors_are_redis_pys_in_order(client: Any) -> None:
    sha = await _state(client)
    commands: list[tuple[Any, ...]] = [
        ("HGETALL", "h"),
        ("HGETALL", "missing"),
        ("SET", "k", "v"),
        ("SET", "k", "w", "NX"),
        ("GET", "k"),
        ("GET", "missing"),
        ("EXISTS", "k", "s", "missing"),
        ("HMGET", "h", "a", "zz"),
        ("EVALSHA", sha, 1, "key", "é", 41),
        ("EVALSHA", "0" * 40, 0),  # NOSCRIPT
        ("INCR", "s"),  # not an integer
        ("HGETALL", "s"),  # WRONGTYPE
        ("SCRIPT EXISTS", sha, "0" * 40),
        ("SET", "f", 2.5),
        ("GET", "f"),
        ("SET", "b", b"\x00\xff"),
        ("GET", "b"),
        ("DEL", "k", "f", "b"),
        ("PING",),
    ]
    batcher = CommandBatcher(client)
    got = await asyncio.gather(*(batcher.execute(*c) for c in commands), return_exceptions=True)
    assert (batcher.round_trips, batcher.commands) == (1, len(commands))

    await _state(client)
    expected = []
    for c in commands:
        try:
            expected.append(await client.execute_command(*c))
        except rex.ResponseError as e:
            expected.append(e)
    assert [_outcome(r) for r in got] == [_outcome(r) for r in expected]
    assert isinstance(got[0], dict) and got[0] == {b"a": b"1", b"b": b"x"}
    assert isinstance(got[9], rex.NoScriptError)
    assert type(got[10]) is rex.ResponseError


async def test_an_unencodable_argument_fails_only_its_command(client: Any) -> None:
    batcher = CommandBatcher(client)
    got = await asyncio.gather(
        batcher.execute("SET", "a", "1"),
        batcher.execute("SET", "b", True),
        batcher.execute("SET", "c", None),
        batcher.execute("GET", "a"),
        return_exceptions=True,
    )
    assert got[0] is True and got[3] == b"1"
    assert isinstance(got[1], rex.DataError) and isinstance(got[2], rex.DataError)
    assert await client.exists("b", "c") == 0


async def test_batches_are_capped_and_each_stays_in_order(client: Any) -> None:
    await client.delete("n")
    batcher = CommandBatcher(client)
    count = 2 * MAX_BATCH + 1
    got = await asyncio.gather(*(batcher.execute("INCR", "n") for _ in range(count)))
    assert sorted(got) == list(range(1, count + 1))  # each command ran once
    # Within a batch, Redis runs the commands in order; batches may travel on
    # different connections, so one may overtake another.
    for batch in (got[:MAX_BATCH], got[MAX_BATCH : 2 * MAX_BATCH], got[2 * MAX_BATCH :]):
        assert batch == list(range(batch[0], batch[0] + len(batch)))
    assert batcher.round_trips == 3


async def test_a_caller_gone_before_the_flush_is_not_sent(client: Any) -> None:
    await client.delete("n")
    batcher = CommandBatcher(client)
    first = batcher.execute("INCR", "n")
    gone = batcher.execute("INCR", "n")
    last = batcher.execute("INCR", "n")
    gone.cancel()
    assert (await first, await last) == (1, 2)
    assert batcher.commands == 2


async def test_plain_clients_bypass_redis_pys_pipeline(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(self: Pipeline, raise_on_error: bool = True) -> list[Any]:
        raise AssertionError("the batcher used redis-py's pipeline")

    monkeypatch.setattr(Pipeline, "execute", refuse)
    batcher = CommandBatcher(client)
    assert await asyncio.gather(*(batcher.execute("PING") for _ in range(3))) == [True] * 3


async def test_replies_read_before_a_broken_connection_are_delivered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _ = open_client(RedisSettings(url="memory://"))
    original = FakeAsyncRedisConnection.read_response
    reads = 0

    async def breaking(self: FakeAsyncRedisConnection, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        if reads == 3:
            raise rex.ConnectionError("lost")
        return await original(self, **kwargs)

    try:
        batcher = CommandBatcher(client)
        await batcher.execute("PING")  # connect first: the handshake reads replies too
        monkeypatch.setattr(FakeAsyncRedisConnection, "read_response", breaking)
        got = await asyncio.gather(
            *(batcher.execute("INCR", "n") for _ in range(5)), return_exceptions=True
        )
        monkeypatch.undo()
        assert got[:2] == [1, 2]
        assert all(isinstance(e, rex.ConnectionError) for e in got[2:])
        # The connection was dropped, not handed back with replies still unread.
        assert await batcher.execute("GET", "n") == b"5"
    finally:
        await close_client(client)


async def test_one_write_per_batch(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = open_client(RedisSettings(url=redis_url))
    try:
        batcher = CommandBatcher(client)
        await batcher.execute("PING")  # connect first: the handshake is written too
        writes: list[object] = []
        original = Connection.send_packed_command

        async def counting(self: Connection, command: Any, check_health: bool = True) -> None:
            writes.append(command)
            await original(self, command, check_health)

        monkeypatch.setattr(Connection, "send_packed_command", counting)
        got = await asyncio.gather(*(batcher.execute("INCR", "n") for _ in range(50)))
        assert got == list(range(1, 51))
        assert len(writes) == 1
    finally:
        await close_client(client)


async def test_a_paused_redis_times_out_the_batch_and_nothing_is_resent(
    private_redis: RedisProcess,
) -> None:
    settings = RedisSettings(url=private_redis.url, socket_timeout=0.3, connect_timeout=0.3)
    client, _ = open_client(settings)
    try:
        batcher = CommandBatcher(client)
        await batcher.execute("SET", "n", 0)
        private_redis.pause()
        started = time.monotonic()
        try:
            got = await asyncio.gather(
                *(batcher.execute("INCR", "n") for _ in range(3)), return_exceptions=True
            )
        finally:
            private_redis.resume()
        assert time.monotonic() - started < 1.5
        assert all(isinstance(e, rex.TimeoutError) for e in got), got
        await asyncio.sleep(0.3)
        # In step again: each reply answers its own command, and no INCR ran twice.
        after = await asyncio.gather(batcher.execute("GET", "n"), batcher.execute("PING"))
        assert int(after[0]) <= 3 and after[1] is True
        stats = private_redis.cli("INFO", "commandstats")
        incr = next(line for line in stats.splitlines() if line.startswith("cmdstat_incr:"))
        assert int(incr.split("calls=")[1].split(",")[0]) <= 3
    finally:
        await close_client(client)


async def test_a_dead_redis_fails_every_waiting_command_then_reconnects(
    private_redis: RedisProcess,
) -> None:
    settings = RedisSettings(url=private_redis.url, socket_timeout=5.0, connect_timeout=0.5)
    client, _ = open_client(settings)
    try:
        batcher = CommandBatcher(client)
        await batcher.execute("PING")
        waiting = [
            batcher.execute("INCR", "n"),
            batcher.execute("EVAL", BUSY, 0),
            batcher.execute("INCR", "n"),
        ]
        await asyncio.sleep(0.3)
        started = time.monotonic()
        private_redis.kill()
        got = await asyncio.gather(*waiting, return_exceptions=True)
        assert time.monotonic() - started < 2  # the broken connection, not the timeout
        assert all(isinstance(e, rex.ConnectionError) for e in got), got
        with pytest.raises(rex.ConnectionError):
            await batcher.execute("PING")
        private_redis.start()
        assert await batcher.execute("PING") is True
    finally:
        await close_client(client)


async def test_a_kept_connection_closed_by_a_restart_is_not_used(
    private_redis: RedisProcess,
) -> None:
    settings = RedisSettings(url=private_redis.url, socket_timeout=5.0, connect_timeout=0.5)
    client, _ = open_client(settings)
    try:
        batcher = CommandBatcher(client)
        assert await batcher.execute("SET", "k", "1") is True
        assert (
            batcher.kept_connections
        )  # kept for the next batch rather than given back to the pool
        private_redis.restart()
        await asyncio.sleep(0.2)  # the loop sees the old connection's EOF
        # The first batch after the restart goes out on a fresh connection and succeeds.
        assert await batcher.execute("GET", "k") is None
        assert await batcher.execute("PING") is True
        await batcher.close()
        assert not batcher.kept_connections
    finally:
        await close_client(client)


def test_every_scheme_of_the_settings_table_has_an_opener_and_no_other() -> None:
    from service.settings import REDIS_SCHEMES
    from service.store.connection import OPENERS

    assert set(OPENERS) == set(REDIS_SCHEMES)
