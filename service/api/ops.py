"""Operational routes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs

from service.appkeys import SHUTTING_DOWN, STORE
from service.errors import StoreError
from service.metrics import CACHE_SIZE, render


@docs(tags=["operations"], summary="Liveness: the process answers")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@docs(tags=["operations"], summary="Readiness: Redis reachable and scripts loaded")
async def readyz(request: web.Request) -> web.Response:
    if request.app[SHUTTING_DOWN][0]:
        return web.json_response({"status": "shutting down"}, status=503)
    try:
        await request.app[STORE].ping()
    except StoreError as err:
        return web.json_response({"status": "not ready", "reason": err.reason}, status=503)
    return web.json_response({"status": "ready"})


@docs(tags=["operations"], summary="Prometheus metrics")
async def metrics(request: web.Request) -> web.Response:
    CACHE_SIZE.set(len(request.app[STORE].cache))
    body, content_type = render()
    return web.Response(body=body, headers={"Content-Type": content_type})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, allow_head=True)
    app.router.add_get("/readyz", readyz, allow_head=True)
    app.router.add_get("/metrics", metrics)
