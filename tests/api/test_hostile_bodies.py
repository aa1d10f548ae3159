"""Every JSON route, unauthenticated: bodies nested past every decoder's limit or holding
integers past Python's conversion limit get 400 in the route's dialect, never a 500."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from service.adapters.apispec import request_schemas
from service.web.dialects import F5_PREFIXES
from service.web.validation import MAX_INTEGER_DIGITS, MAX_JSON_DEPTH

Client = TestClient[web.Request, web.Application]

BODIES = {
    "1,000 deep (list)": b'{"name": "x", "token": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "1,000 deep (object)": b'{"name": "x", "customMetadata": '
    + b'{"a":' * 1000
    + b"1"
    + b"}" * 1000
    + b"}",
    "3,000 deep (beyond orjson's 1,024)": b"[" * 3000 + b"]" * 3000,
    "one level past the bound": b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    "5,000-digit integer": b'{"name": "x", "token": "t", "validUntil": ' + b"9" * 5000 + b"}",
    "negative 4,301-digit integer": b'{"caveats": [-' + b"1" * 4301 + b"]}",
    "integer one digit past the bound": b'{"revoked": ' + b"1" * (MAX_INTEGER_DIGITS + 1) + b"}",
}


def _json_routes(client: Client) -> list[tuple[str, str]]:
    """(method, path) of every route that validates a JSON body, its parameters filled in."""
    routes = []
    for resource in client.app.router.resources():
        for route in resource:
            if any(s.part == "json" for s in request_schemas(route.handler)):
                path = resource.canonical
                for name in ("namespace", "name", "id", "user_id", "token", "user"):
                    path = path.replace("{" + name + "}", "x")
                routes.append((route.method, path))
    return routes


@pytest.mark.parametrize("kind", sorted(BODIES))
async def test_hostile_bodies_are_a_400_in_the_dialect_on_every_json_route(
    client: Client, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    routes = _json_routes(client)
    assert len(routes) >= 10, routes
    assert any(p.startswith(F5_PREFIXES) for _, p in routes), routes
    assert any(p.startswith("/api/v3/onezone/") for _, p in routes), routes
    caplog.set_level(logging.DEBUG)
    for method, path in routes:
        resp = await client.request(
            method, path, data=BODIES[kind], headers={"Content-Type": "application/json"}
        )
        body = await resp.json()
        assert resp.status == 400, (method, path, resp.status, body)
        if path.startswith(F5_PREFIXES):
            assert isinstance(body, str) and ("nests deeper" in body or "digits" in body), body
        else:
            assert body["error"]["id"] == "badMessage", body
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text[-2000:]
