"""The Onezone dialect: Onedata Onezone's REST token API under /api/v3/onezone.

Bodies, status codes and error ids follow Onezone's Swagger spec
(onedata/onezone-swagger) and ctool. Each route passes the GRI of its
resource (the spec's `x-onedata-gri`) to authentication, so that `api`
caveats of an access token are matched as Onezone matches them; `{user}`
stands for the token's subject.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, request_schema

from service.appkeys import (
    AUTHORITY,
    NAMED_TOKENS,
    SETTINGS,
    STATE,
    TEMPORARY_TOKENS,
    USERS,
)
from service.authority import F5_LOCATION, Authority, Kind, check_time_range
from service.errors import (
    BadValue,
    Forbidden,
    MissingAtLeastOneValue,
    NameOccupied,
    NotAnInviteToken,
    NotFound,
    RateLimitResult,
    StoreError,
    TokenRejected,
)
from service.metrics import TALLY, TOKENS_MINTED, VERIFICATIONS
from service.store.named import NamedTokens
from service.tokens import caveats, encoding
from service.tokens.caveats import AnyCaveat, AppCaveat, NamespaceCaveat, TimeCaveat
from service.tokens.errors import CaveatUnknown, MalformedCaveat, MalformedToken, TokenError
from service.tokens.examine import examine
from service.tokens.identifiers import OnezoneIdentifier, parse_identifier
from service.tokens.macaroon import Macaroon
from service.web.auth import Principal, authenticate
from service.web.dialects import onezone_error
from service.web.ratelimit import set_rate_limit_headers
from service.web.responses import json_response

from . import docs as d
from . import onezone_schemas as s

log = logging.getLogger(__name__)

PREFIX = "/api/v3/onezone"
TAGS = ["onezone"]
DEPRECATED = ["onezone (deprecated)"]
CLIENT_TOKEN_NAME_ATTEMPTS = 3
NAME_PUNCTUATION = frozenset("()[]{}_")
NAME_INNER = frozenset(" .-")
# Every authenticated route: bad credentials, login lockout, store down.
AUTH_ERRORS = (401, 429, 503)


def _documented(
    summary: str,
    responses: dict[str, dict[str, Any]],
    *,
    public: bool = False,
    deprecated: bool = False,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> Any:
    """aiohttp-apispec's `docs` with this dialect's tags, security and error bodies."""
    extra: dict[str, Any] = {}
    responses = dict(sorted(responses.items()))
    if deprecated:
        responses = d.with_headers(responses, d.DEPRECATION_HEADERS)
        extra["deprecated"] = True
    if description:
        extra["description"] = description
    return docs(
        tags=DEPRECATED if deprecated else TAGS,
        summary=summary,
        security=d.PUBLIC if public else d.ONEZONE_SECURITY,
        parameters=parameters or [],
        responses=responses,
        **extra,
    )


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "in": "path",
        "name": name,
        "required": True,
        "type": "string",
        "description": description,
    }


TOKEN_ID = _path("id", "Token id: 32 lowercase hex characters")


# ------------------------------------------------------------------ helpers


def _authority(request: web.Request) -> Authority:
    return request.app[AUTHORITY]


def _body(request: web.Request) -> dict[str, Any]:
    data: dict[str, Any] = request.get("data") or {}
    return data


def _type_json(kind: str) -> dict[str, Any]:
    return {"identityToken": {}} if kind == "identity" else {"accessToken": {}}


def _subject(user_id: str) -> dict[str, Any]:
    return {"type": "user", "id": user_id}


def check_name(name: str) -> None:
    """Onedata's name rule: 2-128 letters, digits, brackets, underscores; inner " .-" too."""
    ok = 2 <= len(name) <= 128 and all(
        c.isalnum() or c in NAME_PUNCTUATION or (c in NAME_INNER and 0 < i < len(name) - 1)
        for i, c in enumerate(name)
    )
    if not ok:
        raise BadValue("name", "name")


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


def _bad_token_value(key: str, err: TokenError) -> BadValue:
    """Onezone's badValueToken, with the token error nested as `tokenError`."""
    _, body = onezone_error(err)
    return BadValue(key, "token", err.reason, tokenError=body["error"])


def named_token_json(
    authority: Authority, user_id: str, tid: str, record: dict[str, str], revoked: bool
) -> dict[str, Any]:
    """A token record as Onezone's NamedToken; `revoked` also when its lineage is dead."""
    texts: list[str] = json.loads(record.get("caveats", "[]"))
    cavs: list[Any] = []
    for text in texts:
        try:
            cavs.append(caveats.to_json(caveats.parse_text(text)))
        except CaveatUnknown:
            cavs.append({"type": "unknown", "caveat": text})
    return {
        "id": tid,
        "name": record.get("name", ""),
        "subject": _subject(user_id),
        "type": _type_json(record.get("type", "access")),
        "caveats": cavs,
        "metadata": {
            "creationTime": int(record.get("created", "0")),
            "custom": json.loads(record.get("custom", "{}")),
        },
        "revoked": revoked,
        "token": authority.named_token_from_record(user_id, tid, record),
    }


async def _record(named: NamedTokens, user_id: str, tid: str) -> dict[str, str]:
    record = await named.get(user_id, tid) if _is_token_id(tid) else None
    if record is None:
        raise NotFound("token not found")
    return record


def _is_token_id(tid: str) -> bool:
    return len(tid) == 32 and all(c in "0123456789abcdef" for c in tid)


_MINTED = {kind: TOKENS_MINTED.labels(kind) for kind in ("named", "temporary")}


def _minted(
    kind: str, body: Mapping[str, Any], status: int, rate: RateLimitResult, **headers: str
) -> web.Response:
    """A minting route's response, with the RateLimit headers of the mint policy; counted."""
    TALLY.inc(_MINTED[kind])
    response = json_response(body, status=status, headers=headers or None)
    set_rate_limit_headers(response, rate)
    return response


# --------------------------------------------------- deprecated client tokens


@_documented(
    "Create a client token (deprecated: use POST /user/tokens/named)",
    {
        **d.ok(200, s.OnezoneTokenSchema, "A new named access token", d.RATE_LIMIT_HEADERS),
        **d.onezone_errors(400, *AUTH_ERRORS),
    },
    deprecated=True,
    description="A named access token with a generated name and a `time <` caveat of "
    "onezone.client_token_ttl; counts against the `mint` rate limit. " + d.INHERITED,
)
async def create_client_token(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="user.{user}.client_tokens")
    authority = _authority(request)
    valid_until = authority.now() + request.app[SETTINGS].onezone.client_token_ttl
    for attempt in range(CLIENT_TOKEN_NAME_ATTEMPTS):
        try:
            minted = await authority.mint_named(
                principal.user_id,
                f"client-token-{secrets.token_hex(4)}",
                "access",
                [TimeCaveat(valid_until)],
                {},
                parent=principal.parent,
            )
            break
        except NameOccupied:
            if attempt == CLIENT_TOKEN_NAME_ATTEMPTS - 1:
                raise
    return _minted("named", {"token": minted.token}, 200, minted.rate)


@_documented(
    "List client tokens (deprecated: use GET /user/tokens/named)",
    {
        **d.ok(200, s.OnezoneTokensSchema, "The serialized named tokens"),
        **d.onezone_errors(*AUTH_ERRORS),
    },
    deprecated=True,
)
async def list_client_tokens(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="user.{user}.client_tokens")
    if principal.confined:
        # Serialized tokens are shown only to unconfined credentials.
        return json_response({"tokens": []})
    authority = _authority(request)
    tokens = [
        authority.named_token_from_record(principal.user_id, tid, record)
        for tid, record in await request.app[NAMED_TOKENS].records(principal.user_id)
    ]
    return json_response({"tokens": [t for t in tokens if t is not None]})


@_documented(
    "Delete a client token, given as the serialized token "
    "(deprecated: use DELETE /tokens/named/{id})",
    {**d.ok(204, description="Deleted"), **d.onezone_errors(400, 401, 404, 429, 503)},
    deprecated=True,
    parameters=[_path("token", "The serialized token")],
)
async def delete_client_token(request: web.Request) -> web.Response:
    authority = _authority(request)
    try:
        _, ident = authority.parse_onezone(request.match_info["token"])
    except TokenError as err:
        # Credentials are checked first: an anonymous caller learns nothing of the token.
        await authenticate(request, api_gri="user.{user}.client_token,null")
        raise err from None
    principal = await authenticate(request, api_gri=f"user.{{user}}.client_token,{ident.token_id}")
    if ident.user_id != principal.user_id or ident.persistence != "named":
        raise NotFound("token not found")
    await request.app[NAMED_TOKENS].delete(principal.user_id, ident.token_id)
    return web.Response(status=204)


# ------------------------------------------------------------- named tokens


@_documented(
    "Create a named token for the current user",
    {
        **d.ok(
            201,
            s.OnezoneNamedTokenCreateResponseSchema,
            "Created",
            {**d.LOCATION_HEADER, **d.RATE_LIMIT_HEADERS},
        ),
        **d.onezone_errors(400, 413, *AUTH_ERRORS),
    },
    description="Counts against the `mint` rate limit; the name is unique per user. " + d.INHERITED,
)
@request_schema(s.OnezoneNamedTokenCreateRequestSchema, required=True)
async def create_named_token(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="token.null.user_named_token,{user}")
    return await _create_named(request, principal, principal.user_id)


async def _create_named(request: web.Request, principal: Principal, uid: str) -> web.Response:
    body = _body(request)
    name: str = body["name"]
    check_name(name)
    kind: Kind = body.get("type", "access")
    cavs = parse_caveats(body.get("caveats"))
    minted = await _authority(request).mint_named(
        uid,
        name,
        kind,
        cavs,
        body.get("customMetadata", {}),
        revoked=body.get("revoked", False),
        parent=principal.parent,
    )
    return _minted(
        "named",
        {"tokenId": minted.token_id, "token": minted.token},
        201,
        minted.rate,
        Location=f"{PREFIX}/tokens/named/{minted.token_id}",
    )


@_documented(
    "List the ids of the current user's named tokens",
    {**d.ok(200, s.OnezoneTokensSchema, "Token ids"), **d.onezone_errors(*AUTH_ERRORS)},
)
async def list_named_tokens(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="token.null.user_named_tokens,{user}")
    return await _list_named(request, principal.user_id)


async def _list_named(request: web.Request, uid: str) -> web.Response:
    names = await request.app[NAMED_TOKENS].names(uid)
    return json_response({"tokens": [names[n] for n in sorted(names)]})


@_documented(
    "Delete all named tokens of the current user",
    {**d.ok(204, description="Deleted"), **d.onezone_errors(*AUTH_ERRORS)},
)
async def delete_named_tokens(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="token.null.user_named_tokens,{user}")
    await request.app[NAMED_TOKENS].delete_all(principal.user_id)
    return web.Response(status=204)


@_documented(
    "Get a named token of the current user by its name",
    {**d.ok(200, s.OnezoneNamedTokenSchema), **d.onezone_errors(403, 404, *AUTH_ERRORS)},
    parameters=[_path("name", "The token's name")],
)
async def get_named_token_by_name(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    principal = await authenticate(request, api_gri=f"token.{name}.user_named_token,{{user}}")
    return await _named_by_name(request, principal, principal.user_id, name)


async def _named_by_name(
    request: web.Request, principal: Principal, uid: str, name: str
) -> web.Response:
    _may_see_serialized(principal)
    named = request.app[NAMED_TOKENS]
    tid = (await named.names(uid)).get(name)
    if tid is None:
        raise NotFound("token not found")
    record = await _record(named, uid, tid)
    revoked = await _revoked(named, uid, tid)
    return json_response(named_token_json(_authority(request), uid, tid, record, revoked))


def _may_see_serialized(principal: Principal) -> None:
    """Serialized tokens go only to unconfined credentials (else one escapes its caveats)."""
    if principal.confined:
        raise Forbidden("a confined token may not read serialized tokens")


async def _named_token(
    request: web.Request, scope: str = "", *, serialized: bool = False
) -> tuple[str, str, dict[str, str]]:
    """The token `{id}`, its owner and its record: the caller's, or anyone's for an admin.

    One's own token is found in one's own slot; another's through the owner
    hint in its id. A token of someone else is `forbidden` unless the caller
    is an admin; an unknown id is `notFound` for everyone.
    """
    tid = request.match_info["id"]
    principal = await authenticate(request, api_gri=f"token.{tid}.instance{scope}")
    if serialized:
        # Before any lookup: a confined token learns nothing of which ids exist.
        _may_see_serialized(principal)
    if not _is_token_id(tid):
        raise NotFound("token not found")
    named = request.app[NAMED_TOKENS]
    record = await named.get(principal.user_id, tid)
    if record is not None:
        return tid, principal.user_id, record
    owner = await named.owner(tid)
    if owner is None or owner == principal.user_id:
        raise NotFound("token not found")
    if not principal.admin:
        raise Forbidden("the token belongs to another user")
    if serialized:
        _may_see_anothers(principal)
    request[STATE].on_behalf_of = owner
    return tid, owner, await _record(named, owner, tid)


def _may_see_anothers(principal: Principal) -> None:
    """Another user's serialized tokens go only to Basic credentials.

    Whatever a token hands out must die with it: a token it mints for the
    user does (its foreign lineage), a token of the user's that exists
    already cannot be tied to it.
    """
    if principal.parent is not None:
        raise Forbidden("another user's serialized tokens are shown to Basic credentials only")


async def _revoked(named: NamedTokens, owner: str, tid: str) -> bool:
    """Whether the token is revoked: its own flag, or its lineage (a revoked or gone parent)."""
    status = (await named.check(owner, tid)).status
    if status in ("norecord", "nouser"):
        raise NotFound("token not found")
    return status != "ok"


@_documented(
    "Get a named token (the owner's, or any for an admin)",
    {**d.ok(200, s.OnezoneNamedTokenSchema), **d.onezone_errors(403, 404, *AUTH_ERRORS)},
    parameters=[TOKEN_ID],
)
async def get_named_token(request: web.Request) -> web.Response:
    tid, owner, record = await _named_token(request, serialized=True)
    authority = _authority(request)
    revoked = await _revoked(request.app[NAMED_TOKENS], owner, tid)
    return json_response(named_token_json(authority, owner, tid, record, revoked))


@_documented(
    "Get whether a named token is revoked (its owner, or an admin)",
    {**d.ok(200, s.OnezoneNamedTokenStatusSchema), **d.onezone_errors(403, 404, *AUTH_ERRORS)},
    parameters=[TOKEN_ID],
)
async def get_named_token_status(request: web.Request) -> web.Response:
    tid, owner, _ = await _named_token(request, ":shared")
    return json_response({"revoked": await _revoked(request.app[NAMED_TOKENS], owner, tid)})


@_documented(
    "Modify a named token: its custom metadata or revoked flag (its owner, or an admin)",
    {**d.ok(204, description="Modified"), **d.onezone_errors(400, 403, 404, 413, *AUTH_ERRORS)},
    parameters=[TOKEN_ID],
)
@request_schema(s.OnezoneNamedTokenUpdateRequestSchema, required=True)
async def update_named_token(request: web.Request) -> web.Response:
    tid, owner, _ = await _named_token(request)
    body = _body(request)
    if "customMetadata" not in body and "revoked" not in body:
        raise MissingAtLeastOneValue(("customMetadata", "revoked"))
    custom = body.get("customMetadata")
    await request.app[NAMED_TOKENS].update(
        owner,
        tid,
        custom=json.dumps(custom) if custom is not None else None,
        revoked=body.get("revoked"),
    )
    return web.Response(status=204)


@_documented(
    "Delete a named token (its owner's, or any for an admin)",
    {**d.ok(204, description="Deleted"), **d.onezone_errors(403, 404, *AUTH_ERRORS)},
    parameters=[TOKEN_ID],
)
async def delete_named_token(request: web.Request) -> web.Response:
    tid, owner, _ = await _named_token(request)
    await request.app[NAMED_TOKENS].delete(owner, tid)
    return web.Response(status=204)


# --------------------------------------------------------- temporary tokens


@_documented(
    "Create a temporary token (a time caveat is required)",
    {
        **d.ok(201, s.OnezoneTokenSchema, "Created", d.RATE_LIMIT_HEADERS),
        **d.onezone_errors(400, 413, *AUTH_ERRORS),
    },
    description="The `time` caveat may not exceed onezone.max_temporary_token_ttl "
    "(tokenTimeCaveatRequired with details.maxTtl); counts against the `mint` rate limit. "
    + d.INHERITED,
)
@request_schema(s.OnezoneTemporaryTokenCreateRequestSchema, required=True)
async def create_temporary_token(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="token.null.user_temporary_token,{user}")
    return await _create_temporary(request, principal, principal.user_id)


async def _create_temporary(request: web.Request, principal: Principal, uid: str) -> web.Response:
    body = _body(request)
    kind: Kind = body.get("type", "access")
    cavs = parse_caveats(body.get("caveats"))
    minted = await _authority(request).mint_temporary(uid, kind, cavs, parent=principal.parent)
    return _minted("temporary", {"token": minted.token}, 201, minted.rate)


@_documented(
    "Get the generation of the current user's temporary tokens",
    {
        **d.ok(200, s.OnezoneTemporaryTokenGenerationSchema),
        **d.onezone_errors(*AUTH_ERRORS),
    },
)
async def get_temporary_generation(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="temporary_token_secret.{user}.user:shared")
    return await _temporary_generation(request, principal.user_id)


async def _temporary_generation(request: web.Request, uid: str) -> web.Response:
    generation = await request.app[TEMPORARY_TOKENS].generation(uid)
    return json_response({"generation": generation})


@_documented(
    "Revoke all temporary tokens of the current user",
    {**d.ok(204, description="Revoked"), **d.onezone_errors(*AUTH_ERRORS)},
)
async def revoke_temporary_tokens(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="token.null.user_temporary_tokens,{user}")
    return await _revoke_temporary(request, principal.user_id)


async def _revoke_temporary(request: web.Request, uid: str) -> web.Response:
    await request.app[TEMPORARY_TOKENS].revoke(
        uid, request.app[SETTINGS].onezone.max_temporary_token_ttl
    )
    return web.Response(status=204)


# ---------------------------------------------- any user's tokens (admins)

USER_ID = _path("id", "User id: the hex id of usr-<id>")
OTHER_USERS = (
    "For the user themselves and for admins (users created with --admin, this "
    "service's stand-in for Onezone's oz_tokens_manage); anyone else gets `forbidden`. "
    "An admin's action is logged with the admin as `subject` and the user as `on_behalf_of`."
)
ANOTHER_USERS_MINT = (
    " Minted through an admin's token, the new token carries that token's caveats and "
    "dies with it (README: Confinement is inherited); a token that was itself minted for "
    "its user by another user's token mints only for its own subject (`forbidden`)."
)


def _is_user_id(uid: str) -> bool:
    return _is_token_id(uid)


async def _for_user(
    request: web.Request, gri: Callable[[str], str], *, serialized: bool = False
) -> tuple[Principal, str]:
    """The caller and the user `{id}` they act for: themselves, or anyone for an admin.

    `gri(user id)` is the route's GRI, for api caveats (a malformed id is
    `null` there, and no one's). `serialized`: the route shows a serialized
    token of the user.
    """
    uid = request.match_info["id"]
    valid = _is_user_id(uid)
    principal = await authenticate(request, api_gri=gri(uid if valid else "null"))
    if uid == principal.user_id:
        return principal, uid
    if not principal.admin:
        raise Forbidden("only admins act for other users")
    if not valid or not await request.app[USERS].exists(uid):
        raise NotFound("user not found")
    if serialized:
        _may_see_anothers(principal)
    request[STATE].on_behalf_of = uid
    return principal, uid


_USER_ERRORS = (403, 404, *AUTH_ERRORS)


@_documented(
    "Create a named token for a user",
    {
        **d.ok(
            201,
            s.OnezoneNamedTokenCreateResponseSchema,
            "Created",
            {**d.LOCATION_HEADER, **d.RATE_LIMIT_HEADERS},
        ),
        **d.onezone_errors(400, 413, *_USER_ERRORS),
    },
    parameters=[USER_ID],
    description="As POST /user/tokens/named, for user {id}: the token is theirs (subject, "
    "listing, their `mint` rate limit). " + OTHER_USERS + ANOTHER_USERS_MINT,
)
@request_schema(s.OnezoneNamedTokenCreateRequestSchema, required=True)
async def create_named_token_for_user(request: web.Request) -> web.Response:
    principal, uid = await _for_user(request, lambda uid: f"token.null.user_named_token,{uid}")
    return await _create_named(request, principal, uid)


@_documented(
    "List the ids of a user's named tokens",
    {**d.ok(200, s.OnezoneTokensSchema, "Token ids"), **d.onezone_errors(*_USER_ERRORS)},
    parameters=[USER_ID],
    description=OTHER_USERS,
)
async def list_named_tokens_of_user(request: web.Request) -> web.Response:
    _, uid = await _for_user(request, lambda uid: f"token.null.user_named_tokens,{uid}")
    return await _list_named(request, uid)


@_documented(
    "Delete all named tokens of a user",
    {**d.ok(204, description="Deleted"), **d.onezone_errors(*_USER_ERRORS)},
    parameters=[USER_ID],
    description=OTHER_USERS,
)
async def delete_named_tokens_of_user(request: web.Request) -> web.Response:
    _, uid = await _for_user(request, lambda uid: f"token.null.user_named_tokens,{uid}")
    await request.app[NAMED_TOKENS].delete_all(uid)
    return web.Response(status=204)


@_documented(
    "Get a named token of a user by its name",
    {**d.ok(200, s.OnezoneNamedTokenSchema), **d.onezone_errors(*_USER_ERRORS)},
    parameters=[USER_ID, _path("name", "The token's name")],
    description=OTHER_USERS,
)
async def get_named_token_of_user_by_name(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    principal, uid = await _for_user(
        request, lambda uid: f"token.{name}.user_named_token,{uid}", serialized=True
    )
    return await _named_by_name(request, principal, uid, name)


@_documented(
    "Create a temporary token for a user (a time caveat is required)",
    {
        **d.ok(201, s.OnezoneTokenSchema, "Created", d.RATE_LIMIT_HEADERS),
        **d.onezone_errors(400, 413, *_USER_ERRORS),
    },
    parameters=[USER_ID],
    description="As POST /user/tokens/temporary, for user {id}. "
    + OTHER_USERS
    + ANOTHER_USERS_MINT,
)
@request_schema(s.OnezoneTemporaryTokenCreateRequestSchema, required=True)
async def create_temporary_token_for_user(request: web.Request) -> web.Response:
    principal, uid = await _for_user(request, lambda uid: f"token.null.user_temporary_token,{uid}")
    return await _create_temporary(request, principal, uid)


@_documented(
    "Get the generation of a user's temporary tokens",
    {**d.ok(200, s.OnezoneTemporaryTokenGenerationSchema), **d.onezone_errors(*_USER_ERRORS)},
    parameters=[USER_ID],
    description=OTHER_USERS,
)
async def get_temporary_generation_of_user(request: web.Request) -> web.Response:
    _, uid = await _for_user(request, lambda uid: f"temporary_token_secret.{uid}.user:shared")
    return await _temporary_generation(request, uid)


@_documented(
    "Revoke all temporary tokens of a user",
    {**d.ok(204, description="Revoked"), **d.onezone_errors(*_USER_ERRORS)},
    parameters=[USER_ID],
    description=OTHER_USERS,
)
async def revoke_temporary_tokens_of_user(request: web.Request) -> web.Response:
    _, uid = await _for_user(request, lambda uid: f"token.null.user_temporary_tokens,{uid}")
    return await _revoke_temporary(request, uid)


@_documented(
    "List the ids of every user's named tokens (admins)",
    {**d.ok(200, s.OnezoneTokensSchema, "Token ids"), **d.onezone_errors(403, *AUTH_ERRORS)},
    description="Streamed as it is read: users are walked with SSCAN and each user's name "
    "index with HSCAN, a step at a time, so neither Redis nor this service ever holds the "
    "whole list; the order is unspecified. A store failure before the first step is a 503; "
    "one after the reply has begun ends the connection without the closing `]}`, so a "
    "client never takes a partial list for a whole one.",
)
async def list_all_named_tokens(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request, api_gri="token.null.list")
    if not principal.admin:
        raise Forbidden("only admins list every user's tokens")
    steps = request.app[NAMED_TOKENS].iter_ids()
    # The first step before the status line, so that a store down is a clean 503.
    first = await anext(steps, None)
    response = web.StreamResponse(
        headers={"Content-Type": "application/json", "X-Request-Id": request[STATE].request_id}
    )
    await response.prepare(request)
    try:
        separator = b""
        await response.write(b'{"tokens":[')
        step = first
        while step is not None:
            # Token ids only (the store reads nothing else out of an index).
            await response.write(separator + ('"' + '","'.join(step) + '"').encode())
            separator = b","
            # Every round gives the worker back to other requests, whether or
            # not the write had to wait for the client.
            await asyncio.sleep(0)
            step = await anext(steps, None)
        await response.write(b"]}")
    except ConnectionError:
        # The client left: nothing is wrong here, and nothing more to send.
        log.info("client left while every named token was listed")
    except Exception as err:
        # The status line is gone: another response cannot follow, so the only
        # honest answer left is a cut connection (the JSON stays unclosed).
        level = logging.WARNING if isinstance(err, StoreError) else logging.ERROR
        log.log(level, "listing every named token failed mid-reply: %s", type(err).__name__)
        if request.transport is not None:
            request.transport.abort()
    finally:
        await steps.aclose()
    return response


# ------------------------------------------------ public token operations


def _deserialize(request: web.Request, token: str) -> Macaroon:
    try:
        return encoding.deserialize_onezone(token, request.app[SETTINGS].onezone.max_token_size)
    except TokenError as err:
        raise _bad_token_value("token", err) from err


@_documented(
    "Examine a token without verifying it",
    {**d.ok(200, s.OnezoneExaminedTokenSchema), **d.onezone_errors(400, 413)},
    public=True,
    description=(
        "Any encoding of an Onezone token of this service (V1 or V2, either base64 alphabet, "
        "padded or not, Onedata-escaped or not). Refused with badValueToken: an identifier "
        "that is not this service's (tokenError badToken, nothing is guessed), a location "
        "other than onezone.domain (badToken), a third-party caveat (tokenCaveatUnknown: "
        "not supported)."
    ),
)
@request_schema(s.OnezoneTokenRequestSchema, required=True)
async def examine_token(request: web.Request) -> web.Response:
    m = _deserialize(request, _body(request)["token"])
    try:
        # Onezone tokens of this service only: of the configured domain, with an
        # identifier of ours (F5 tokens have their own location), no third-party caveat.
        if not isinstance(parse_identifier(m.identifier), OnezoneIdentifier):
            raise MalformedToken("not an Onezone token")
        result = examine(m, _authority(request).domain, F5_LOCATION)
    except TokenError as err:
        raise _bad_token_value("token", err) from err
    return json_response(result)


@_documented(
    "Confine a token with more caveats (no key needed)",
    {**d.ok(200, s.OnezoneTokenSchema, "The confined token"), **d.onezone_errors(400, 413)},
    public=True,
)
@request_schema(s.OnezoneConfineRequestSchema, required=True)
async def confine_token(request: web.Request) -> web.Response:
    body = _body(request)
    m = _deserialize(request, body["token"])
    cavs = parse_caveats(body["caveats"])
    check_time_range(cavs)
    for cav in cavs:
        m = m.add_first_party_caveat(caveats.to_text(cav))
    return json_response({"token": encoding.serialize_onezone(m)})


_VERIFIED_VALID = VERIFICATIONS.labels("valid")
_VERIFIED_INVALID = VERIFICATIONS.labels("invalid")
_VERIFIED_UNAVAILABLE = VERIFICATIONS.labels("unavailable")


async def _verify(request: web.Request, kind: Kind) -> web.Response:
    body = _body(request)
    authority = _authority(request)
    now = authority.now()
    try:
        # A token whose caveats depend only on the clock needs no context.
        result = None
        if kind == "access":
            result = await authority.verify_remembered(body["token"], f5=False)
        if result is None:
            # As in Onezone: the peer defaults to the caller, and api caveats are
            # checked by the consuming service per operation, not here.
            peer = body.get("peerIp") or request.remote
            ctx = authority.context(
                peer_ip=str(peer) if peer is not None else None,
                service=body.get("service"),
                consumer=body.get("consumer"),
                interface=body.get("interface"),
                method=body.get("method"),
                path=body.get("path"),
                host=body.get("host"),
                defer_data_caveats=body.get("allowDataAccessCaveats", False),
                defer_api_caveats=True,
            )
            now = ctx.now
            result = await authority.verify_onezone(body["token"], ctx, kind=kind)
    except (TokenError, TokenRejected):
        TALLY.inc(_VERIFIED_INVALID)
        raise
    except StoreError:
        TALLY.inc(_VERIFIED_UNAVAILABLE)
        raise
    TALLY.inc(_VERIFIED_VALID)
    return json_response(
        {"subject": _subject(result.identifier.user_id), "ttl": result.verified.ttl(now)}
    )


@_documented(
    "Verify an access token",
    {
        **d.ok(200, s.OnezoneVerifyTokenResponseSchema, "Valid: its subject and remaining ttl"),
        **d.onezone_errors(400, 413, 503),
    },
    public=True,
)
@request_schema(s.OnezoneVerifyRequestSchema, required=True)
async def verify_access_token(request: web.Request) -> web.Response:
    return await _verify(request, "access")


@_documented(
    "Verify an identity token",
    {
        **d.ok(200, s.OnezoneVerifyTokenResponseSchema, "Valid: its subject and remaining ttl"),
        **d.onezone_errors(400, 413, 503),
    },
    public=True,
)
@request_schema(s.OnezoneVerifyRequestSchema, required=True)
async def verify_identity_token(request: web.Request) -> web.Response:
    return await _verify(request, "identity")


@_documented(
    "Verify an invite token: this service issues none, so every token is refused",
    {
        **d.ok(200, s.OnezoneVerifyTokenResponseSchema, "Never: no invite token exists here"),
        **d.onezone_errors(400, 413),
    },
    public=True,
    description="Invite tokens are not supported. A token of this service (any encoding) "
    "is refused with Onezone's notAnInviteToken (details: expectedInviteType, received); "
    "a foreign or malformed one with badToken.",
)
@request_schema(s.OnezoneVerifyInviteRequestSchema, required=True)
async def verify_invite_token(request: web.Request) -> web.Response:
    body = _body(request)
    # As Onezone, the type is judged before the signature: it is no secret.
    _, ident = _authority(request).parse(body["token"])
    TALLY.inc(_VERIFIED_INVALID)
    # An F5 AuthToken is an access token too (to its application).
    kind = ident.kind if isinstance(ident, OnezoneIdentifier) else "access"
    raise NotAnInviteToken(body.get("expectedInviteType", "any"), kind)


# --------------------------------------------------------------------- user


@_documented(
    "Get the authenticated user",
    {**d.ok(200, s.OnezoneUserSchema), **d.onezone_errors(404, *AUTH_ERRORS)},
)
async def get_user(request: web.Request) -> web.Response:
    # As in Onezone, a data-access token may read its user (and nothing else here).
    principal = await authenticate(
        request, api_gri="user.{user}.instance:protected", data_access=True
    )
    user = await request.app[USERS].get(principal.user_id)
    if user is None:
        raise NotFound("user not found")
    return json_response(
        {
            "userId": user.id,
            "fullName": user.name,
            "username": user.name,
            "emails": [],
            "linkedAccounts": [],
            "basicAuthEnabled": True,
            "blocked": False,
            "creationTime": user.created,
            # Deprecated duplicates Onezone still sends.
            "name": user.name,
            "login": user.name,
            "alias": user.name,
            "emailList": [],
        }
    )


def setup_routes(app: web.Application) -> None:
    """Register the routes."""
    r = app.router
    r.add_post(f"{PREFIX}/user/client_tokens", create_client_token)
    r.add_get(f"{PREFIX}/user/client_tokens", list_client_tokens, allow_head=False)
    r.add_delete(f"{PREFIX}/user/client_tokens/{{token}}", delete_client_token)
    r.add_post(f"{PREFIX}/user/tokens/named", create_named_token)
    r.add_get(f"{PREFIX}/user/tokens/named", list_named_tokens, allow_head=False)
    r.add_delete(f"{PREFIX}/user/tokens/named", delete_named_tokens)
    r.add_get(
        f"{PREFIX}/user/tokens/named/name/{{name}}", get_named_token_by_name, allow_head=False
    )
    r.add_get(f"{PREFIX}/tokens/named/{{id}}", get_named_token, allow_head=False)
    r.add_patch(f"{PREFIX}/tokens/named/{{id}}", update_named_token)
    r.add_delete(f"{PREFIX}/tokens/named/{{id}}", delete_named_token)
    r.add_post(f"{PREFIX}/user/tokens/temporary", create_temporary_token)
    r.add_get(f"{PREFIX}/user/tokens/temporary", get_temporary_generation, allow_head=False)
    r.add_delete(f"{PREFIX}/user/tokens/temporary", revoke_temporary_tokens)
    r.add_post(f"{PREFIX}/tokens/examine", examine_token)
    r.add_post(f"{PREFIX}/tokens/confine", confine_token)
    r.add_post(f"{PREFIX}/tokens/verify_access_token", verify_access_token)
    r.add_post(f"{PREFIX}/tokens/verify_identity_token", verify_identity_token)
    r.add_post(f"{PREFIX}/tokens/verify_invite_token", verify_invite_token)
    r.add_get(f"{PREFIX}/tokens/named", list_all_named_tokens, allow_head=False)
    r.add_get(f"{PREFIX}/tokens/named/{{id}}/status", get_named_token_status, allow_head=False)
    users = f"{PREFIX}/users/{{id}}/tokens"
    r.add_post(f"{users}/named", create_named_token_for_user)
    r.add_get(f"{users}/named", list_named_tokens_of_user, allow_head=False)
    r.add_delete(f"{users}/named", delete_named_tokens_of_user)
    r.add_get(f"{users}/named/name/{{name}}", get_named_token_of_user_by_name, allow_head=False)
    r.add_post(f"{users}/temporary", create_temporary_token_for_user)
    r.add_get(f"{users}/temporary", get_temporary_generation_of_user, allow_head=False)
    r.add_delete(f"{users}/temporary", revoke_temporary_tokens_of_user)
    r.add_get(f"{PREFIX}/user", get_user, allow_head=False)
