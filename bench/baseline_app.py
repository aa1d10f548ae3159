"""The load benchmark's baseline: a bare aiohttp app that does no work.

Same event loop (uvloop), server settings (listen backlog, access log off)
and frozen start-up objects as the service; each path
answers a JSON body of the size the service's route answers, taken from the
JSON map of path -> size given as the second argument.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys

import uvloop
from aiohttp import web


def make_app(sizes: dict[str, int]) -> web.Application:
    bodies = {
        path: json.dumps({"token": "x" * max(0, size - 13)}).encode()
        for path, size in sizes.items()
    }
    default = b'{"status":"ok"}'

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bodies.get(request.path, default), content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def main() -> None:
    port = int(sys.argv[1])
    sizes = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = make_app(sizes)
    # As `token-service serve` does once it has started.
    gc.collect()
    gc.freeze()
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
