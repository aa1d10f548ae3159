"""The API description: every route is in it, with its status codes, bodies, errors and security."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from service import settings as settings_mod
from service.api.docs import SPEC_URL, STATIC_URL, UI_URL
from service.app import create_app

Client = TestClient[web.Request, web.Application]
ONEZONE = "/api/v3/onezone"
F5 = ("/api/config/", "/api/web/")
PUBLIC_ONEZONE = {
    "/api/v3/onezone/tokens/examine",
    "/api/v3/onezone/tokens/confine",
    "/api/v3/onezone/tokens/verify_access_token",
    "/api/v3/onezone/tokens/verify_identity_token",
    "/api/v3/onezone/tokens/verify_invite_token",
}


@pytest.fixture
async def client(aiohttp_client: Any) -> Client:
    """The real app with default settings (embedded store, a development key)."""
    app = create_app(settings_mod.load(environ={}))
    return await aiohttp_client(app)  # type: ignore[no-any-return]


@pytest.fixture
async def spec(client: Client) -> dict[str, Any]:
    response = await client.get(SPEC_URL)
    assert response.status == 200
    return await response.json()  # type: ignore[no-any-return]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    ]


def _ref(response: dict[str, Any]) -> str | None:
    ref = response.get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


async def test_every_route_is_documented(client: Client, spec: dict[str, Any]) -> None:
    documented = {(m.upper(), p) for m, p, _ in operations(spec)}
    routes = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        # "*" is /auth/check's catch-all for other methods; the docs serve themselves.
        if route.method == "*" or path.startswith((UI_URL, STATIC_URL)):
            continue
        routes.add((route.method, path))
    assert routes == documented, routes ^ documented
    assert len(documented) > 40


async def test_every_operation_says_what_it_answers(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        where = f"{method.upper()} {path}"
        assert op.get("summary") and op.get("tags"), where
        codes = {int(c) for c in op["responses"]}
        assert any(200 <= c < 300 for c in codes), where
        for code, response in op["responses"].items():
            assert response.get("description"), (where, code)
            if int(code) < 400:
                continue
            if path.startswith(ONEZONE):
                assert _ref(response) == "OnezoneError", (where, code)
            elif path.startswith(F5):
                assert _ref(response) == "F5Error", (where, code)
        if path.startswith(ONEZONE) and path not in PUBLIC_ONEZONE:
            assert {401, 429, 503} <= codes, where
        if path.startswith(F5):
            assert {401, 403, 503, 504} <= codes, where


async def test_error_bodies_are_defined_per_dialect(spec: dict[str, Any]) -> None:
    definitions = spec["definitions"]
    assert definitions["F5Error"]["type"] == "string"
    onezone = definitions["OnezoneError"]
    assert onezone["required"] == ["error"]
    inner = definitions[onezone["properties"]["error"]["$ref"].rsplit("/", 1)[-1]]
    assert set(inner["properties"]) == {"id", "details", "description"}


async def test_security_per_dialect(spec: dict[str, Any]) -> None:
    schemes = spec["securityDefinitions"]
    assert schemes["basic"]["type"] == "basic"
    assert schemes["token"] == {**schemes["token"], "in": "header", "name": "Authorization"}
    for method, path, op in operations(spec):
        names = {name for requirement in op["security"] for name in requirement}
        if path.startswith(ONEZONE):
            assert names == (set() if path in PUBLIC_ONEZONE else {"basic", "token", "xAuthToken"})
        elif path.startswith(F5):
            assert names == {"token", "xAuthToken"}, (method, path)
        elif path.startswith("/auth/check"):
            assert names == {"token", "xAuthToken"}
        else:
            assert names == set(), path


async def test_request_bodies_and_headers_are_described(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    (body,) = [
        p for p in paths[f"{ONEZONE}/user/tokens/named"]["post"]["parameters"] if p["in"] == "body"
    ]
    assert body["required"] is True
    assert body["schema"] == {"$ref": "#/definitions/OnezoneNamedTokenCreateRequest"}
    created = paths[f"{ONEZONE}/user/tokens/named"]["post"]["responses"]["201"]
    assert {"Location", "RateLimit", "RateLimit-Policy"} <= set(created["headers"])
    assert (
        "Retry-After"
        in paths[f"{ONEZONE}/user/tokens/named"]["post"]["responses"]["429"]["headers"]
    )
    for response in paths[f"{ONEZONE}/user/client_tokens"]["post"]["responses"].values():
        assert {"Deprecation", "Sunset", "Link"} <= set(response["headers"])
    generate = paths[
        "/api/config/namespaces/{namespace}/third_party_applications/{name}/generate_token"
    ]["get"]
    names = {p["name"]: p for p in generate["parameters"]}
    assert names["namespace"]["pattern"] == "^[a-z]([-a-z0-9]*[a-z0-9])?$"
    assert _ref(generate["responses"]["200"]) == "GenerateTokenResponse"
    check = paths["/auth/check"]["get"]
    assert {"X-Auth-Subject", "X-Auth-Namespace", "X-Auth-App"} <= set(
        check["responses"]["200"]["headers"]
    )


async def test_ui_page_is_served_with_a_strict_policy(client: Client) -> None:
    response = await client.get(UI_URL)
    assert response.status == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    page = await response.text()
    assert f"{STATIC_URL}/swagger-ui-bundle.js" in page and SPEC_URL in page
    assert "validatorUrl: null" in page
    asset = await client.get(f"{STATIC_URL}/swagger-ui-bundle.js")
    assert asset.status == 200
