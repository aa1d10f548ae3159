"""The edge's paths to a handler agree, its remembered path parameters are read-only, and
errors speak the route's dialect (an unmatched path's by its prefix).

The direct path is `run_route` written out in the middleware; a trusted
proxy's forwarded request goes through `run_route` itself. Both must give the
same answer to the same request.
"""

from __future__ import annotations

import base64
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from aiohttp_apispec import match_info_schema
from marshmallow import Schema, fields

from service.api.f5xc_schemas import AppPathSchema
from service.appkeys import TRUSTED_PROXIES
from service.paths import ONEZONE_PREFIX
from service.web.middlewares import DeprecationTable, Edge, RouteInfo
from service.web.validation import Validations

Client = TestClient[web.Request, web.Application]
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-password").decode()}
NAMED = f"{ONEZONE_PREFIX}/user/tokens/named"
APPS = "/api/config/namespaces/{ns}/third_party_applications/{name}"
FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


async def _answer(client: Client, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    r = await client.request(method, path, **kw)
    if r.content_type == "application/json":
        return r.status, await r.json()
    return r.status, await r.text()


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("POST", NAMED, {"data": b"{not json", "headers": ADMIN}),
        ("POST", NAMED, {"json": {"name": 5}, "headers": ADMIN}),
        ("POST", NAMED, {"json": {}, "headers": ADMIN}),
        ("POST", NAMED, {"json": {"name": "fine"}}),
        ("GET", APPS.format(ns="bad_ns!", name="app1"), {}),
        ("GET", APPS.format(ns="ns1", name="app1"), {}),
        ("GET", APPS.format(ns="ns1", name="app1") + "?response_format=nope", {}),
    ],
)
async def test_the_direct_and_the_forwarded_path_agree(
    make_client: Any, method: str, path: str, kw: dict[str, Any]
) -> None:
    client = await make_client(server__trusted_proxies=("127.0.0.0/8",))
    headers = kw.pop("headers", {})
    direct = await _answer(client, method, path, headers=headers, **kw)
    forwarded = await _answer(client, method, path, headers={**headers, **FORWARDED}, **kw)
    assert direct == forwarded
    assert direct[0] >= 400


async def test_a_valid_request_succeeds_on_both_paths(make_client: Any) -> None:
    client = await make_client(server__trusted_proxies=("127.0.0.0/8",))
    results = []
    for i, extra in enumerate(({}, FORWARDED)):
        status, body = await _answer(
            client, "POST", NAMED, json={"name": f"t{i}"}, headers={**ADMIN, **extra}
        )
        results.append((status, sorted(body)))
    assert results[0] == results[1]
    assert results[0][0] == 201


class Tags(Schema):
    tags = fields.List(fields.String(), required=True)


async def test_remembered_path_parameters_are_read_only_and_shared(client: Client) -> None:
    @match_info_schema(AppPathSchema)
    async def handler(request: web.Request) -> web.Response:
        raise AssertionError("not called")

    shared = Validations()
    validation = shared.for_handler(client.app, handler)
    assert validation is not None
    seen = []
    for values in ({"namespace": "ns1", "name": "a"},) * 2 + ({"namespace": "ns1", "name": "b"},):
        request = make_mocked_request("GET", "/", app=client.app, match_info=values)
        await validation.apply(request)
        seen.append(request["match_info"])
    assert seen[0] == {"namespace": "ns1", "name": "a"}
    assert seen[0] is seen[1]  # remembered
    assert seen[2] == {"namespace": "ns1", "name": "b"}
    assert isinstance(seen[0], MappingProxyType)
    with pytest.raises(TypeError):
        seen[0]["name"] = "other"  # type: ignore[index]
    assert seen[1]["name"] == "a"


async def test_path_parameters_that_are_not_scalars_are_each_requests_own(client: Client) -> None:
    class Listed(Schema):
        name = fields.Function(deserialize=lambda v: list(v))

    @match_info_schema(Listed)
    async def handler(request: web.Request) -> web.Response:
        raise AssertionError("not called")

    validation = Validations().for_handler(client.app, handler)
    assert validation is not None
    seen = []
    for _ in range(2):
        request = make_mocked_request("GET", "/", app=client.app, match_info={"name": "ab"})
        await validation.apply(request)
        seen.append(request["match_info"])
    assert seen[0] == seen[1] == {"name": ["a", "b"]}
    assert seen[0] is not seen[1]
    seen[0]["name"].append("c")
    assert seen[1]["name"] == ["a", "b"]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", f"{ONEZONE_PREFIX}/nowhere", (404, {"error": {"id": "notFound"}})),
        ("GET", "/api/config/namespaces/ns1/nowhere", (404, "not found")),
        ("GET", "/api/web/nowhere", (404, "not found")),
        ("GET", "/nowhere", (404, {"error": {"id": "notFound"}})),
        ("PATCH", "/api/web/namespaces", (405, "method not allowed")),
        ("PATCH", NAMED, (405, {"error": {"id": "notSupported"}})),
    ],
)
async def test_unmatched_requests_speak_their_prefix_dialect(
    client: Client, method: str, path: str, expected: tuple[int, Any]
) -> None:
    status, body = await _answer(client, method, path)
    if isinstance(body, dict):
        body = {"error": {"id": body["error"]["id"]}}
    assert (status, body) == expected


def test_a_matched_route_keeps_its_own_dialect_whatever_the_path() -> None:
    info = RouteInfo("/api/config/x", "GET", "f5", None, DeprecationTable([]))
    request = make_mocked_request("GET", f"{ONEZONE_PREFIX}/x")
    assert Edge._dialect(info, request) == "f5"
    unmatched = RouteInfo("unmatched", "GET", None, None, DeprecationTable([]))
    assert Edge._dialect(unmatched, request) == "onezone"


async def test_unmatched_requests_of_unknown_methods_share_one_entry(client: Client) -> None:
    edge = Edge(DeprecationTable([]), *[client.app[TRUSTED_PROXIES]] * 2, [False])
    infos = set()
    for method in ("BREW", "SPIN", "X" * 40):
        request = make_mocked_request(method, "/nowhere", app=client.app)
        request._match_info = await client.app.router.resolve(request)
        infos.add(id(edge._info(request)))
    assert len(infos) == 1
