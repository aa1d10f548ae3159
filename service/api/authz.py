"""`/auth/check`: the sidecar's authorization check for Envoy ext_authz, nginx auth_request and Traefik ForwardAuth.

The token comes from `X-Auth-Token`, `Authorization: Bearer|APIToken` or the
configured `f5.token_header`; either kind is verified in full (signature,
caveats, record and revocation). The request being authorised is described by
`X-Forwarded-Method/-Uri/-For` (Traefik), `X-Original-Method/-URI/-URL` and
`X-Real-IP` (nginx), believed only from a trusted proxy; otherwise, and for
Envoy, it is this request itself, whose path after `/auth/check` is the
original path.

200 carries `X-Auth-Subject: usr-<user id>` (Onedata's subject form, the one
`consumer` caveats use) and, for F5 tokens, `X-Auth-Namespace` and
`X-Auth-App`; proxies must set these upstream headers, not append to the
client's. 401 means no usable token, 403 a caveat that refuses this request,
503/504 a store that is down or slow; the body is one line of plain text.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_apispec import docs

from service.appkeys import AUTHORITY, SETTINGS, SUBJECT, TRUSTED_PROXY
from service.authority import F5Verification
from service.errors import StoreTimeout, StoreUnavailable, TokenRejected, TokenRevoked
from service.tokens.errors import CaveatUnknown, CaveatUnverified, TokenError, TokenExpired
from service.web.auth import token_from_headers
from service.web.forwarded import forwarded_header

PATH = "/auth/check"
_NO_STORE = "no-store"
_CHALLENGE = 'Bearer realm="token-service"'
_INVALID = 'Bearer realm="token-service", error="invalid_token"'


def _deny(status: int, reason: str, challenge: str | None = None) -> web.Response:
    response = web.Response(status=status, text=reason + "\n", content_type="text/plain")
    response.headers["Cache-Control"] = _NO_STORE
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    return response


def _one_line(text: str, limit: int = 200) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def _refusal(err: Exception) -> web.Response:
    """The answer for a token that is refused: 403 for a caveat against this request, else 401."""
    if isinstance(err, CaveatUnverified) and not isinstance(err, TokenExpired):
        return _deny(403, _one_line(f"caveat not satisfied: {err.caveat}"))
    if isinstance(err, CaveatUnknown):
        return _deny(401, _one_line(f"unknown caveat: {err.caveat}"), _INVALID)
    if isinstance(err, TokenRevoked):
        return _deny(401, "token revoked", _INVALID)
    if isinstance(err, TokenError):
        return _deny(401, _one_line(err.reason), _INVALID)
    return _deny(401, "token not valid", _INVALID)


def _original_path(request: web.Request) -> str | None:
    uri = forwarded_header(request, "X-Forwarded-Uri", "X-Original-URI")
    if uri is not None:
        return uri.partition("?")[0] or "/"
    url = forwarded_header(request, "X-Original-URL")
    if url is not None:
        try:
            return urlsplit(url).path or "/"
        except ValueError:
            return None
    tail = request.match_info.get("tail")
    return None if tail is None else "/" + tail


def _peer(request: web.Request) -> str | None:
    # The trusted-proxy middleware has already taken the client out of
    # X-Forwarded-For; X-Real-IP serves proxies that send only that.
    if request.get(TRUSTED_PROXY) and "X-Forwarded-For" not in request.headers:
        real = forwarded_header(request, "X-Real-IP")
        if real:
            return real
    return request.remote


def setup_routes(app: web.Application) -> None:
    """Register the routes."""
    authority = app[AUTHORITY]
    # Read once: this handler runs for every proxied request.
    extra_header = app[SETTINGS].f5.token_header or None

    @docs(
        tags=["authorization check"],
        summary="Verify the token of a proxied request (Envoy ext_authz, nginx auth_request, Traefik ForwardAuth)",
        description=(
            "Any method. 200 with X-Auth-Subject (and X-Auth-Namespace / X-Auth-App for F5 "
            "tokens); 401 no usable token; 403 a caveat refuses the request; 503/504 store "
            "down/slow."
        ),
        produces=["text/plain"],
        responses={
            200: {"description": "allowed"},
            401: {"description": "no token, or an invalid, expired or revoked one"},
            403: {"description": "a caveat refuses this request"},
            503: {"description": "store unavailable"},
            504: {"description": "store did not answer in time"},
        },
    )
    async def check(request: web.Request) -> web.Response:
        token = token_from_headers(request, extra_header)
        if token is None:
            return _deny(401, "no token", _CHALLENGE)
        ctx = authority.context(
            peer_ip=_peer(request),
            method=forwarded_header(request, "X-Forwarded-Method", "X-Original-Method")
            or request.method,
            path=_original_path(request),
            interface="rest",
        )
        try:
            verification = await authority.verify_any(token, ctx)
        except (TokenError, TokenRejected) as err:
            return _refusal(err)
        except StoreTimeout:
            return _deny(504, "token store did not answer in time")
        except StoreUnavailable:
            return _deny(503, "token store unavailable")
        ident = verification.identifier
        response = web.Response(status=200)
        headers = response.headers
        headers["Cache-Control"] = _NO_STORE
        headers["X-Auth-Subject"] = "usr-" + ident.user_id
        if isinstance(verification, F5Verification):
            headers["X-Auth-Namespace"] = verification.identifier.namespace
            headers["X-Auth-App"] = verification.identifier.app
        request[SUBJECT] = ident.user_id
        return response

    router = app.router
    for path in (PATH, PATH + "/{tail:.*}"):
        # GET and POST are documented; "*" takes every other method (Envoy keeps the original one).
        router.add_get(path, check)
        router.add_post(path, check)
        router.add_route("*", path, check)
