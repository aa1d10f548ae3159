"""What the Onezone routes share: their docs, their bodies and caveats, and who acts for whom."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp_apispec
from aiohttp import web
from marshmallow import Schema

from service.appkeys import STATE, USERS
from service.errors import Forbidden, NotFound, RateLimitResult
from service.metrics import TALLY, TOKENS_MINTED
from service.tokens import caveats
from service.tokens.caveats import AnyCaveat, AppCaveat, NamespaceCaveat
from service.tokens.errors import MalformedCaveat
from service.tokens.identifiers import is_token_id
from service.web.auth import Principal, authenticate
from service.web.ratelimit import set_rate_limit_headers
from service.web.responses import json_response

from .. import docs

TAGS = ["onezone"]
DEPRECATED = ["onezone (deprecated)"]
# Every authenticated route: bad credentials, login lockout, store down.
AUTH_ERRORS = (401, 429, 503)

Handler = Callable[[web.Request], Awaitable[web.Response]]
Act = Callable[[web.Request, Principal, str], Awaitable[web.Response]]
"""A route's work on the tokens of a user (the last argument), done for a caller (the Principal)."""


def documented(
    summary: str,
    ok: dict[str, dict[str, Any]],
    errors: tuple[int, ...],
    *,
    public: bool = False,
    deprecated: bool = False,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
    body: type[Schema] | None = None,
) -> Any:
    """aiohttp-apispec's `docs` with this dialect's tags, security and error bodies.

    `ok` is the success response, `errors` the status codes of the route's
    errors; `body` the schema of the route's JSON body, which is then required.
    """
    extra: dict[str, Any] = {}
    responses = dict(sorted({**ok, **docs.onezone_errors(*errors)}.items()))
    if deprecated:
        responses = docs.with_headers(responses, docs.DEPRECATION_HEADERS)
        extra["deprecated"] = True
    if description:
        extra["description"] = description
    described = aiohttp_apispec.docs(
        tags=DEPRECATED if deprecated else TAGS,
        summary=summary,
        security=docs.PUBLIC if public else docs.ONEZONE_SECURITY,
        parameters=parameters or [],
        responses=responses,
        **extra,
    )
    if body is None:
        return described
    with_body = aiohttp_apispec.request_schema(body, required=True)
    return lambda handler: described(with_body(handler))


def path_parameter(name: str, description: str) -> dict[str, Any]:
    """A documented path parameter `{name}`."""
    return {
        "in": "path",
        "name": name,
        "required": True,
        "type": "string",
        "description": description,
    }


TOKEN_ID = path_parameter("id", "Token id: 32 lowercase hex characters")
TOKEN_NAME = path_parameter("name", "The token's name")


def request_body(request: web.Request) -> dict[str, Any]:
    """The route's JSON body, as its schema loaded it."""
    data: dict[str, Any] = request.get("data") or {}
    return data


def subject_json(user_id: str) -> dict[str, Any]:
    """A token's subject as Onezone writes it."""
    return {"type": "user", "id": user_id}


class SubmittedCaveatInvalid(MalformedCaveat):
    """A caveat of a request is invalid; Onezone reports it as it was submitted."""

    def __init__(self, caveat: Any, cause: MalformedCaveat) -> None:
        super().__init__(cause.reason, cause.key)
        self.caveat = caveat


def parse_caveats(value: Any) -> tuple[AnyCaveat, ...]:
    """Caveats from their Onezone JSON forms; badValueCaveat names the one at fault."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SubmittedCaveatInvalid(value, MalformedCaveat("caveats must be a list", "caveats"))
    out: list[AnyCaveat] = []
    for item in value:
        try:
            cav = caveats.from_json(item)
            if isinstance(cav, NamespaceCaveat | AppCaveat):
                raise MalformedCaveat("not an Onezone caveat", "type")
        except MalformedCaveat as err:
            raise SubmittedCaveatInvalid(item, err) from err
        out.append(cav)
    return tuple(out)


_MINTED = {kind: TOKENS_MINTED.labels(kind) for kind in ("named", "temporary")}


def minted_response(
    kind: str, body: Mapping[str, Any], status: int, rate: RateLimitResult, **headers: str
) -> web.Response:
    """A minting route's response, with the RateLimit headers of the mint policy; counted."""
    TALLY.inc(_MINTED[kind])
    response = json_response(body, status=status, headers=headers or None)
    set_rate_limit_headers(response, rate)
    return response


# Who acts for whom -------------------------------------------------------
#
# A /user/… route and its /users/{id}/… twin do the same work (an Act) on
# the tokens of a user; they differ only in how that user is found.


def for_caller(gri: str, act: Act) -> Handler:
    """The handler of a /user/… route: the caller acts on their own tokens.

    `gri` is the route's GRI for `api` caveats; `{user}` in it stands for the caller.
    """

    async def handler(request: web.Request) -> web.Response:
        principal = await authenticate(request, api_gri=gri)
        return await act(request, principal, principal.user_id)

    return handler


def for_user(gri: str, act: Act) -> Handler:
    """The handler of a /users/{id}/… route: the caller acts for user {id} (`resolve_user`).

    `gri` as for `for_caller`, with `{user}` standing for user {id}.
    """

    def route_gri(user_id: str) -> str:
        return gri.replace("{user}", user_id)

    async def handler(request: web.Request) -> web.Response:
        principal, user_id = await resolve_user(request, route_gri)
        return await act(request, principal, user_id)

    return handler


async def resolve_user(
    request: web.Request, gri: Callable[[str], str], *, serialized: bool = False
) -> tuple[Principal, str]:
    """The caller and the user `{id}` they act for: themselves, or anyone for an admin.

    `gri(user id)` is the route's GRI, for api caveats (a malformed id is
    `null` there, and no one's). `serialized`: the route shows a serialized
    token of the user.
    """
    user_id = request.match_info["id"]
    # This service's user ids have the shape of token ids (16 random bytes in hex).
    valid = is_token_id(user_id)
    principal = await authenticate(request, api_gri=gri(user_id if valid else "null"))
    if user_id == principal.user_id:
        return principal, user_id
    if not principal.admin:
        raise Forbidden("only admins act for other users")
    if not valid or not await request.app[USERS].exists(user_id):
        raise NotFound("user not found")
    if serialized:
        may_see_anothers(principal)
    request[STATE].on_behalf_of = user_id
    return principal, user_id


def may_see_anothers(principal: Principal) -> None:
    """Another user's serialized tokens go only to Basic credentials.

    Whatever a token hands out must die with it: a token it mints for the
    user does (its foreign lineage), a token of the user's that exists
    already cannot be tied to it.
    """
    if principal.parent is not None:
        raise Forbidden("another user's serialized tokens are shown to Basic credentials only")
