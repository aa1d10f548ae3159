"""aiohttp-apispec still keeps its parser, data name and request schemas where the adapter reads them.

And the edge's validation (`RouteValidation`) still gives a handler what
aiohttp-apispec's own `validation_middleware` gives it.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiohttp_apispec import (
    match_info_schema,
    querystring_schema,
    request_schema,
    setup_aiohttp_apispec,
    validation_middleware,
)
from marshmallow import Schema, fields

from service.adapters import apispec
from service.web.validation import Validations

VERSION = "aiohttp-apispec " + metadata.version("aiohttp-apispec")
UPDATE = "update service/adapters/apispec.py"


class PathSchema(Schema):
    namespace = fields.String(required=True)
    number = fields.Integer(required=True)


class QuerySchema(Schema):
    flag = fields.Boolean(load_default=False)


class BodySchema(Schema):
    name = fields.String(required=True)
    tags = fields.List(fields.String(), load_default=list)


SEEN: list[dict[str, Any]] = []


@match_info_schema(PathSchema)
@querystring_schema(QuerySchema)
@request_schema(BodySchema)
async def handler(request: web.Request) -> web.Response:
    SEEN.append({key: dict(request[key]) for key in ("match_info", "querystring", "data")})
    return web.Response(text="ok")


def _app(ours: bool) -> web.Application:
    app = web.Application()
    app.router.add_post("/ns/{namespace}/{number}", handler)
    setup_aiohttp_apispec(app, url="/spec.json")
    if ours:
        validations = Validations()

        @web.middleware
        async def validate(request: web.Request, handler: Any) -> web.StreamResponse:
            validation = validations.for_handler(request.app, request.match_info.handler)
            assert validation is not None
            await validation.apply(request)
            return await handler(request)

        app.middlewares.append(validate)
    else:
        app.middlewares.append(validation_middleware)
    return app


def test_setup_keeps_the_parser_and_the_data_name_under_the_app_keys() -> None:
    app = web.Application()
    setup_aiohttp_apispec(app, url="/spec.json", request_data_name="payload")
    assert apispec.PARSER_KEY in app, f"{VERSION} keeps no {apispec.PARSER_KEY} app key: {UPDATE}"
    assert callable(getattr(apispec.parser_of(app), "parse", None)), (
        f"{VERSION}: {apispec.PARSER_KEY} is no longer a webargs parser: {UPDATE}"
    )
    assert apispec.DATA_NAME_KEY in app, (
        f"{VERSION} keeps no {apispec.DATA_NAME_KEY} app key: {UPDATE}"
    )
    assert apispec.data_name_of(app) == "payload", (
        f"{VERSION}: {apispec.DATA_NAME_KEY} no longer holds request_data_name: {UPDATE}"
    )


def test_decorators_list_the_schemas_on_the_handler() -> None:
    assert hasattr(handler, apispec.SCHEMAS_ATTRIBUTE), (
        f"{VERSION}'s decorators leave no {apispec.SCHEMAS_ATTRIBUTE} on the handler: {UPDATE}"
    )
    for entry in getattr(handler, apispec.SCHEMAS_ATTRIBUTE):
        assert set(entry) >= {"schema", "location", "put_into"}, (
            f"{VERSION}: a {apispec.SCHEMAS_ATTRIBUTE} entry is now {sorted(entry)}: {UPDATE}"
        )
    declared = {(s.part, s.put_into) for s in apispec.request_schemas(handler)}
    assert declared == {
        ("match_info", "match_info"),
        ("querystring", "querystring"),
        ("json", None),
    }, f"{VERSION}: the decorators' locations or request keys changed: {UPDATE}"
    assert all(isinstance(s.schema, Schema) for s in apispec.request_schemas(handler))


def test_the_package_ships_the_swagger_ui_files_the_page_loads() -> None:
    for name in (
        "swagger-ui.css",
        "favicon-32x32.png",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ):
        assert (apispec.SWAGGER_UI_FILES / name).is_file(), (
            f"{VERSION} ships no {name} in {apispec.SWAGGER_UI_FILES}: {UPDATE}"
        )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/ns/a/1?flag=true", {"name": "x"}),
        ("/ns/a/1", {"name": "x", "tags": ["t"]}),
        ("/ns/b/22?flag=false", {"name": "y"}),
    ],
)
async def test_handlers_get_what_validation_middleware_gives_them(
    aiohttp_client: Any, path: str, body: dict[str, Any]
) -> None:
    seen = []
    for ours in (False, True):
        client: TestClient[web.Request, web.Application] = await aiohttp_client(_app(ours))
        SEEN.clear()
        for _ in range(2):  # the second time from what the edge remembers
            r = await client.post(path, json=body)
            assert r.status == 200, await r.text()
        seen.append(list(SEEN))
    assert seen[0] == seen[1], f"{VERSION}'s validation_middleware now gives {seen[0]}: {UPDATE}"
