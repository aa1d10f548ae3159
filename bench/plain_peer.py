"""The plain peer: generate_token written the way a Python team would first write it.

aiohttp handlers, redis-py's asyncio client with one awaited call per step,
pymacaroons for the macaroons; nothing cached, nothing batched. It does the
work the service's generate_token does for an editor:

1. authenticate the `APIToken`: deserialize and verify its macaroon against
   the key (pymacaroons), and read the token's record from Redis;
2. read the caller's role in the namespace (403 unless `editor`);
3. read the application (404 when missing, 403 when disabled);
4. count the request against the user's rate limit (INCR, and EXPIRE when the
   window opens; 429 over the limit);
5. mint a V2 macaroon with `namespace`, `app` and `time` caveats, record it in
   Redis with its TTL, and answer `{"token": <standard base64>}`, as the
   service's AuthToken is written.

It is served as the bare baseline is (uvloop, no access log, the same listen
backlog), so that a comparison with it is about the request's work, not the
server's settings.

    python bench/plain_peer.py PORT REDIS_URL KEY_HEX

`seed()` writes what a request needs (a user, their access token's record,
the role binding, the application) and returns the access token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator

import pymacaroons
import redis
import redis.asyncio as aioredis
import uvloop
from aiohttp import web
from pymacaroons.serializers import BinarySerializer

ACCESS_LOCATION = "onezone.bench"
TOKEN_LOCATION = "f5xc"
TOKEN_TTL = 86400
# As bench/load.py sets the service's generate_token limits: high enough never to refuse.
RATE_LIMIT = 100_000_000
RATE_PERIOD = 1

REDIS = web.AppKey("redis", aioredis.Redis)
KEY = web.AppKey("key", bytes)


def seed(redis_url: str, key: bytes, namespace: str, app: str) -> str:
    """Write a user who edits `namespace`, its application `app`, and return the user's access token."""
    user_id = secrets.token_hex(16)
    token_id = secrets.token_hex(16)
    client = redis.Redis.from_url(redis_url)
    try:
        client.hset(f"peer:token:{token_id}", mapping={"user": user_id, "name": "bench"})
        client.hset(f"peer:ns:{namespace}:roles", user_id, "editor")
        client.hset(f"peer:app:{namespace}:{app}", mapping={"disabled": "0"})
    finally:
        client.close()
    access = pymacaroons.Macaroon(
        location=ACCESS_LOCATION,
        identifier=token_id,
        key=key,
        version=pymacaroons.MACAROON_V2,
    )
    return str(access.serialize())


def error(status: int, message: str) -> web.Response:
    return web.json_response(message, status=status)


def _time_caveat_holds(predicate: str) -> bool:
    if not predicate.startswith("time < "):
        return False
    return int(predicate[len("time < ") :]) > time.time()


async def generate_token(request: web.Request) -> web.Response:
    """Mint an application token for an editor of the namespace."""
    namespace = request.match_info["namespace"]
    app_name = request.match_info["name"]
    db = request.app[REDIS]

    header = request.headers.get("Authorization", "")
    if not header.startswith("APIToken "):
        return error(401, "unauthenticated")
    try:
        access = pymacaroons.Macaroon.deserialize(header[len("APIToken ") :])
        verifier = pymacaroons.Verifier()
        verifier.satisfy_general(_time_caveat_holds)
        verifier.verify(access, request.app[KEY])
    except Exception:
        return error(401, "invalid token")
    record = await db.hgetall(f"peer:token:{access.identifier_bytes.decode()}")
    if not record:
        return error(401, "token revoked")
    user_id = record["user"]

    role = await db.hget(f"peer:ns:{namespace}:roles", user_id)
    if role != "editor":
        return error(403, "no permission on the namespace")

    app = await db.hgetall(f"peer:app:{namespace}:{app_name}")
    if not app:
        return error(404, "application not found")
    if app.get("disabled") == "1":
        return error(403, "application disabled")

    counter = f"peer:rate:{user_id}"
    count = await db.incr(counter)
    if count == 1:
        await db.expire(counter, RATE_PERIOD)
    if count > RATE_LIMIT:
        return error(429, "rate limit exceeded")

    token_id = secrets.token_hex(16)
    expires = int(time.time()) + TOKEN_TTL
    minted = pymacaroons.Macaroon(
        location=TOKEN_LOCATION,
        identifier=f"f5/1/{namespace}/{app_name}/usr-{user_id}/{token_id}",
        key=request.app[KEY],
        version=pymacaroons.MACAROON_V2,
    )
    minted.add_first_party_caveat(f"namespace = {namespace}")
    minted.add_first_party_caveat(f"app = {app_name}")
    minted.add_first_party_caveat(f"time < {expires}")
    token = base64.b64encode(BinarySerializer().serialize_raw(minted)).decode()
    await db.set(
        f"peer:f5:{token_id}",
        json.dumps({"user": user_id, "namespace": namespace, "app": app_name, "expires": expires}),
        ex=TOKEN_TTL,
    )
    return web.json_response({"token": token}, headers={"Cache-Control": "no-store"})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(redis_url: str, key: bytes) -> web.Application:
    app = web.Application()
    app[KEY] = key

    async def connect(app: web.Application) -> AsyncIterator[None]:
        # redis-py's pool holds 100 connections unless told otherwise, and refuses
        # (MaxConnectionsError) a request beyond them: room for every connection
        # the listener may hold, as a team would size it after its first 500s.
        app[REDIS] = aioredis.from_url(redis_url, decode_responses=True, max_connections=1024)
        yield
        await app[REDIS].aclose()

    app.cleanup_ctx.append(connect)
    app.router.add_get("/healthz", healthz)
    app.router.add_get(
        "/api/config/namespaces/{namespace}/third_party_applications/{name}/generate_token",
        generate_token,
    )
    return app


def main() -> None:
    port, redis_url, key = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(
        make_app(redis_url, key),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        backlog=1024,  # as the service's listener and the baseline's
    )


if __name__ == "__main__":
    main()
