"""Operational routes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import aiohttp_apispec
from aiohttp import web
from marshmallow import Schema, fields

from service.appkeys import SHUTTING_DOWN, STORE
from service.errors import StoreError
from service.metrics import CACHE_SIZE, render
from service.web.responses import json_response

from . import docs


class StatusSchema(Schema):
    status = fields.String(
        required=True, metadata={"enum": ["ok", "ready", "not ready", "shutting down"]}
    )
    reason = fields.String(metadata={"description": "Why the store is not ready"})


@aiohttp_apispec.docs(
    tags=["operations"],
    summary="Liveness: the process answers",
    security=docs.PUBLIC,
    responses=docs.ok(200, StatusSchema, "Alive"),
)
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@aiohttp_apispec.docs(
    tags=["operations"],
    summary="Readiness: Redis reachable and scripts loaded",
    description="503 when the store does not answer, and from the moment shutdown begins.",
    security=docs.PUBLIC,
    responses={
        **docs.ok(200, StatusSchema, "Ready"),
        **docs.ok(503, StatusSchema, "Not ready, or shutting down"),
    },
)
async def readyz(request: web.Request) -> web.Response:
    if request.app[SHUTTING_DOWN][0]:
        return json_response({"status": "shutting down"}, status=503)
    try:
        await request.app[STORE].ping()
    except StoreError as err:
        return json_response({"status": "not ready", "reason": err.reason}, status=503)
    # Shutdown may have begun while the store answered; a 200 now would be stale.
    if request.app[SHUTTING_DOWN][0]:
        return json_response({"status": "shutting down"}, status=503)
    return json_response({"status": "ready"})


@aiohttp_apispec.docs(
    tags=["operations"],
    summary="Prometheus metrics",
    description="Prometheus text format; with several workers, the sum over all of them.",
    produces=["text/plain"],
    security=docs.PUBLIC,
    responses=docs.ok(200, docs.PLAIN_TEXT, "Prometheus text exposition format 0.0.4"),
)
async def metrics(request: web.Request) -> web.Response:
    CACHE_SIZE.set(len(request.app[STORE].cache))
    body, content_type = render()
    return web.Response(body=body, headers={"Content-Type": content_type})


def setup_routes(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/healthz", healthz, allow_head=True)
    app.router.add_get("/readyz", readyz, allow_head=True)
    app.router.add_get("/metrics", metrics)
