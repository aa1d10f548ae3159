"""The API description (Swagger 2.0 from aiohttp-apispec) and a Swagger UI that works offline.

Handlers declare their responses with the helpers here, so that every
operation lists its status codes with the error body of its dialect: Onezone's
`{"error": {...}}` object or F5's JSON string. The UI page and its assets are
served by the service itself (aiohttp-apispec ships Swagger UI's files), and
its Content-Security-Policy keeps the browser from loading anything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from aiohttp_apispec import setup_aiohttp_apispec

from service.adapters.apispec import SWAGGER_UI_FILES
from service.web.validation import error_callback

from .onezone_schemas import OnezoneErrorSchema

SPEC_URL = "/api/docs/swagger.json"
UI_URL = "/api/docs"
STATIC_URL = "/api/docs/static"
# Said of every route that mints (README "Confinement is inherited").
INHERITED = (
    "Minted with a token as credentials, the new token carries that token's caveats "
    "(its time limit included, `interface` excepted) and dies with it. Tokens with "
    "`data.*` caveats are refused here."
)

# Definitions that marshmallow cannot express (a bare string); responses name them.
F5_ERROR = "F5Error"
PLAIN_TEXT = "PlainText"
_STRING_DEFINITIONS: dict[str, dict[str, Any]] = {
    F5_ERROR: {
        "type": "string",
        "description": 'F5 XC error body: a JSON string, e.g. "application not found"',
        "example": "application not found",
    },
    PLAIN_TEXT: {"type": "string"},
}

SECURITY_DEFINITIONS = {
    "basic": {
        "type": "basic",
        "description": "HTTP Basic with a user of this service (Onezone dialect).",
    },
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`APIToken <token>` or `Bearer <token>`: an access token minted here.",
    },
    "xAuthToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
        "description": "An access token minted here (Onezone's header).",
    },
}
Security = list[dict[str, list[str]]]
CHECK_SECURITY: Security = [{"token": []}, {"xAuthToken": []}]
ONEZONE_SECURITY: Security = [{"basic": []}, {"token": []}, {"xAuthToken": []}]
F5_SECURITY: Security = [{"token": []}, {"xAuthToken": []}]
PUBLIC: Security = []

Headers = Mapping[str, Mapping[str, Any]]


def header(description: str) -> dict[str, Any]:
    """A documented string response header."""
    return {"type": "string", "description": description}


RATE_LIMIT_HEADERS: dict[str, dict[str, Any]] = {
    "RateLimit-Policy": header('The quota, e.g. `"mint";q=600;w=60`'),
    "RateLimit": header('What remains of it, e.g. `"mint";r=599;t=1`'),
}
RETRY_HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {"type": "integer", "description": "Seconds to wait"},
    **RATE_LIMIT_HEADERS,
}
LOCATION_HEADER: dict[str, dict[str, Any]] = {"Location": header("The new resource")}
DEPRECATION_HEADERS: dict[str, dict[str, Any]] = {
    "Deprecation": header("RFC 9745 date, e.g. `@1561939200`"),
    "Sunset": header("RFC 8594 date after which the route may be gone"),
    "Link": header('The successor (`rel="successor-version"`) and the deprecation notice'),
}

ONEZONE_ERRORS: dict[int, str] = {
    400: "Bad request: badMessage, missingRequiredValue, badValue<Kind> (with details.key), "
    "badValueIdentifierOccupied, badToken, tokenInvalid, tokenRevoked, tokenTooLarge, "
    "tokenCaveatUnknown, tokenCaveatUnverified, tokenTimeCaveatRequired, badValueCaveat",
    401: "unauthorized or badBasicCredentials",
    403: "forbidden",
    404: "notFound",
    409: "alreadyExists",
    413: "badMessage: the body is larger than server.client_max_size",
    429: "tooManyRequests (rate limit or failed-login lockout)",
    503: "serviceUnavailable (store down) or timeout (store slow)",
}
F5_ERRORS: dict[int, str] = {
    400: "malformed request",
    401: "not authorized",
    403: "no permission on the namespace",
    404: "namespace or application not found",
    409: "conflicting with current value (exists already, or the application is disabled)",
    413: "the body is larger than server.client_max_size",
    429: "too frequent",
    503: "store unavailable",
    504: "store did not answer in time",
}


def ok(
    status: int, schema: Any = None, description: str = "", headers: Headers | None = None
) -> dict[str, dict[str, Any]]:
    """A success response: status, body schema (a marshmallow schema or a definition name), headers."""
    response: dict[str, Any] = {"description": description or "OK"}
    if schema is not None:
        response["schema"] = schema
    if headers:
        response["headers"] = dict(headers)
    return {str(status): response}


def _errors(
    table: Mapping[int, str], schema: Any, codes: Iterable[int], headers: Headers | None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for code in codes:
        response: dict[str, Any] = {"description": table[code], "schema": schema}
        extra = {**(RETRY_HEADERS if code == 429 else {}), **(headers or {})}
        if extra:
            response["headers"] = extra
        out[str(code)] = response
    return out


def onezone_errors(*codes: int, headers: Headers | None = None) -> dict[str, dict[str, Any]]:
    """Error responses of the Onezone dialect: `{"error": {"id", "details"?, "description"}}`."""
    return _errors(ONEZONE_ERRORS, OnezoneErrorSchema, codes, headers)


def f5_errors(*codes: int, headers: Headers | None = None) -> dict[str, dict[str, Any]]:
    """Error responses of the F5 dialect: a JSON string."""
    return _errors(F5_ERRORS, F5_ERROR, codes, headers)


def with_headers(
    responses: Mapping[str, Mapping[str, Any]], headers: Headers
) -> dict[str, dict[str, Any]]:
    """Every response with `headers` added (e.g. the deprecation headers of a deprecated route)."""
    return {
        code: {**r, "headers": {**r.get("headers", {}), **headers}} for code, r in responses.items()
    }


_UI_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>token-service API</title>
<link rel="stylesheet" type="text/css" href="{static}/swagger-ui.css">
<link rel="icon" type="image/png" href="{static}/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{static}/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="{static}/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script>
window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "{spec}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  }});
}};
</script>
</body>
</html>
"""

# Swagger UI styles inline and draws icons from data: URLs; everything else is this origin.
_UI_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


async def swagger_ui(request: web.Request) -> web.Response:
    """The Swagger UI page; validatorUrl is off because the public validator is a remote call."""
    page = _UI_PAGE.format(static=STATIC_URL, spec=SPEC_URL)
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Content-Security-Policy": _UI_CSP, "Cache-Control": "no-cache"},
    )


def setup(app: web.Application) -> None:
    """Serve the spec of every documented route, and the Swagger UI with its own assets."""
    api = setup_aiohttp_apispec(
        app,
        title="token-service",
        version="0.1.0",
        url=SPEC_URL,
        error_callback=error_callback,
        info={
            "description": (
                "Mints, verifies and revokes macaroon tokens in two dialects: Onedata Onezone "
                '(/api/v3/onezone, errors as `{"error": {id, details, description}}`) and '
                "F5 Distributed Cloud (/api/config/namespaces/…, errors as a JSON string). "
                "Every response carries X-Request-Id."
            )
        },
        securityDefinitions=SECURITY_DEFINITIONS,
    )
    # apispec keeps definitions in a plain dict; these two are not marshmallow schemas.
    api.spec.components.schemas.update(_STRING_DEFINITIONS)
    app.router.add_static(STATIC_URL, SWAGGER_UI_FILES, name="swagger.static")
    app.router.add_get(UI_URL, swagger_ui, name="swagger.docs")
