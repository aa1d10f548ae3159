"""The load benchmark's baseline: a bare aiohttp app that does no work.

Same event loop (uvloop), server settings (listen backlog, access log off)
and frozen start-up objects as the service; each path
answers a JSON body of the size the service's route answers, taken from the
JSON map of path -> size given as the second argument.

With a Redis URL as the third argument it is the *ceiling* of a route that
must ask Redis once per request: each request also runs one small script
(EVALSHA) through the service's own command batcher, so the scripts of
concurrent requests share round trips as the service's mints do. What the
service does beyond that (authentication, the token, the rate limit's
answer, its headers, the edge) is what it costs below this ceiling.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import uvloop
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.cli import settle_heap

# One counter per request, as a mint's script counts it against a rate limit.
CEILING_SCRIPT = "return redis.call('INCR', KEYS[1])"


def make_app(sizes: dict[str, int], redis_url: str | None = None) -> web.Application:
    bodies = {
        path: json.dumps({"token": "x" * max(0, size - 13)}).encode()
        for path, size in sizes.items()
    }
    default = b'{"status":"ok"}'

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bodies.get(request.path, default), content_type="application/json")

    app = web.Application()
    if redis_url is None:
        app.router.add_route("*", "/{tail:.*}", handler)
        return app

    import redis.asyncio as aioredis

    from service.store.batcher import CommandBatcher

    client = aioredis.from_url(redis_url)
    batcher = CommandBatcher(client)
    sha: list[str] = []

    async def connect(app: web.Application) -> AsyncIterator[None]:
        sha.append(await client.script_load(CEILING_SCRIPT))
        yield
        await batcher.close()
        await client.aclose()

    async def one_round_trip(request: web.Request) -> web.Response:
        await batcher.execute("EVALSHA", sha[0], 1, "ceiling")
        return await handler(request)

    app.cleanup_ctx.append(connect)
    app.router.add_route("GET", "/healthz", handler)
    app.router.add_route("*", "/{tail:.*}", one_round_trip)
    return app


def main() -> None:
    port = int(sys.argv[1])
    sizes = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    redis_url = sys.argv[3] if len(sys.argv) > 3 else None
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = make_app(sizes, redis_url)
    # As `token-service serve` does once it has started.
    settle_heap()
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        backlog=1024,  # as the service's listener
    )


if __name__ == "__main__":
    main()
