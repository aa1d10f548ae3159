"""Named tokens: the caller's (/user/tokens/named…) and one by its id (/tokens/named/{id}).

A named token has a record in its owner's slot; its id is unique and its name
unique per user. /tokens/named/{id} serves the owner, and any admin.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from service.appkeys import AUTHORITY, NAMED_TOKENS, STATE
from service.authority import Authority, Kind
from service.errors import BadValue, Forbidden, MissingAtLeastOneValue, NotFound
from service.paths import ONEZONE_PREFIX
from service.store.named import NamedTokens
from service.tokens import caveats
from service.tokens.errors import CaveatUnknown
from service.tokens.identifiers import is_token_id
from service.web.auth import Principal, authenticate
from service.web.responses import json_response

from .. import docs
from .. import onezone_schemas as schemas
from .shared import (
    AUTH_ERRORS,
    TOKEN_ID,
    TOKEN_NAME,
    documented,
    for_caller,
    may_see_anothers,
    minted_response,
    parse_caveats,
    request_body,
    subject_json,
)

# The GRIs of the caller's named tokens, `{user}` standing for their owner.
NAMED_TOKEN_GRI = "token.null.user_named_token,{user}"
NAMED_TOKENS_GRI = "token.null.user_named_tokens,{user}"
NAME_PUNCTUATION = frozenset("()[]{}_")
NAME_INNER = frozenset(" .-")


def check_name(name: str) -> None:
    """Onedata's name rule: 2-128 letters, digits, brackets, underscores; inner " .-" too."""
    ok = 2 <= len(name) <= 128 and all(
        c.isalnum() or c in NAME_PUNCTUATION or (c in NAME_INNER and 0 < i < len(name) - 1)
        for i, c in enumerate(name)
    )
    if not ok:
        raise BadValue("name", "name")


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
    kind = record.get("type", "access")
    return {
        "id": tid,
        "name": record.get("name", ""),
        "subject": subject_json(user_id),
        "type": {"identityToken": {}} if kind == "identity" else {"accessToken": {}},
        "caveats": cavs,
        "metadata": {
            "creationTime": int(record.get("created", "0")),
            "custom": json.loads(record.get("custom", "{}")),
        },
        "revoked": revoked,
        "token": authority.named_token_from_record(user_id, tid, record),
    }


async def named_record(named: NamedTokens, user_id: str, tid: str) -> dict[str, str]:
    """The record of `user_id`'s token `tid`; notFound when there is none."""
    record = await named.get(user_id, tid) if is_token_id(tid) else None
    if record is None:
        raise NotFound("token not found")
    return record


async def is_revoked(named: NamedTokens, owner: str, tid: str) -> bool:
    """Whether the token is revoked: its own flag, or its lineage (a revoked or gone parent)."""
    status = (await named.check(owner, tid)).status
    if status in ("norecord", "nouser"):
        raise NotFound("token not found")
    return status != "ok"


def may_see_serialized(principal: Principal) -> None:
    """Serialized tokens go only to unconfined credentials (else one escapes its caveats)."""
    if principal.confined:
        raise Forbidden("a confined token may not read serialized tokens")


# The caller's named tokens ------------------------------------------------


async def create_named(request: web.Request, principal: Principal, user_id: str) -> web.Response:
    """Mint a named token for `user_id` from the request's body."""
    body = request_body(request)
    name: str = body["name"]
    check_name(name)
    kind: Kind = body.get("type", "access")
    cavs = parse_caveats(body.get("caveats"))
    minted = await request.app[AUTHORITY].mint_named(
        user_id,
        name,
        kind,
        cavs,
        body.get("customMetadata", {}),
        revoked=body.get("revoked", False),
        parent=principal.parent,
    )
    return minted_response(
        "named",
        {"tokenId": minted.token_id, "token": minted.token},
        201,
        minted.rate,
        Location=f"{ONEZONE_PREFIX}/tokens/named/{minted.token_id}",
    )


create_named_token = documented(
    "Create a named token for the current user",
    docs.ok(
        201,
        schemas.OnezoneNamedTokenCreateResponseSchema,
        "Created",
        {**docs.LOCATION_HEADER, **docs.RATE_LIMIT_HEADERS},
    ),
    (400, 413, *AUTH_ERRORS),
    description="Counts against the `mint` rate limit; the name is unique per user. "
    + docs.INHERITED,
    body=schemas.OnezoneNamedTokenCreateRequestSchema,
)(for_caller(NAMED_TOKEN_GRI, create_named))


async def list_named(request: web.Request, principal: Principal, user_id: str) -> web.Response:
    """The ids of `user_id`'s named tokens, in the order of their names."""
    names = await request.app[NAMED_TOKENS].names(user_id)
    return json_response({"tokens": [names[n] for n in sorted(names)]})


list_named_tokens = documented(
    "List the ids of the current user's named tokens",
    docs.ok(200, schemas.OnezoneTokensSchema, "Token ids"),
    AUTH_ERRORS,
)(for_caller(NAMED_TOKENS_GRI, list_named))


async def delete_all_named(
    request: web.Request, principal: Principal, user_id: str
) -> web.Response:
    """Delete every named token of `user_id`."""
    await request.app[NAMED_TOKENS].delete_all(user_id)
    return web.Response(status=204)


delete_named_tokens = documented(
    "Delete all named tokens of the current user", docs.ok(204, description="Deleted"), AUTH_ERRORS
)(for_caller(NAMED_TOKENS_GRI, delete_all_named))


async def named_by_name(request: web.Request, principal: Principal, user_id: str) -> web.Response:
    """`user_id`'s named token `{name}`, serialized: for unconfined credentials only."""
    may_see_serialized(principal)
    named = request.app[NAMED_TOKENS]
    tid = (await named.names(user_id)).get(request.match_info["name"])
    if tid is None:
        raise NotFound("token not found")
    record = await named_record(named, user_id, tid)
    revoked = await is_revoked(named, user_id, tid)
    return json_response(named_token_json(request.app[AUTHORITY], user_id, tid, record, revoked))


@documented(
    "Get a named token of the current user by its name",
    docs.ok(200, schemas.OnezoneNamedTokenSchema),
    (403, 404, *AUTH_ERRORS),
    parameters=[TOKEN_NAME],
)
async def get_named_token_by_name(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    principal = await authenticate(request, api_gri=f"token.{name}.user_named_token,{{user}}")
    return await named_by_name(request, principal, principal.user_id)


# One named token by its id -------------------------------------------------


async def named_token_by_id(
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
        may_see_serialized(principal)
    if not is_token_id(tid):
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
        may_see_anothers(principal)
    request[STATE].on_behalf_of = owner
    return tid, owner, await named_record(named, owner, tid)


@documented(
    "Get a named token (the owner's, or any for an admin)",
    docs.ok(200, schemas.OnezoneNamedTokenSchema),
    (403, 404, *AUTH_ERRORS),
    parameters=[TOKEN_ID],
)
async def get_named_token(request: web.Request) -> web.Response:
    tid, owner, record = await named_token_by_id(request, serialized=True)
    authority = request.app[AUTHORITY]
    revoked = await is_revoked(request.app[NAMED_TOKENS], owner, tid)
    return json_response(named_token_json(authority, owner, tid, record, revoked))


@documented(
    "Get whether a named token is revoked (its owner, or an admin)",
    docs.ok(200, schemas.OnezoneNamedTokenStatusSchema),
    (403, 404, *AUTH_ERRORS),
    parameters=[TOKEN_ID],
)
async def get_named_token_status(request: web.Request) -> web.Response:
    tid, owner, _ = await named_token_by_id(request, ":shared")
    return json_response({"revoked": await is_revoked(request.app[NAMED_TOKENS], owner, tid)})


@documented(
    "Modify a named token: its custom metadata or revoked flag (its owner, or an admin)",
    docs.ok(204, description="Modified"),
    (400, 403, 404, 413, *AUTH_ERRORS),
    parameters=[TOKEN_ID],
    body=schemas.OnezoneNamedTokenUpdateRequestSchema,
)
async def update_named_token(request: web.Request) -> web.Response:
    tid, owner, _ = await named_token_by_id(request)
    body = request_body(request)
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


@documented(
    "Delete a named token (its owner's, or any for an admin)",
    docs.ok(204, description="Deleted"),
    (403, 404, *AUTH_ERRORS),
    parameters=[TOKEN_ID],
)
async def delete_named_token(request: web.Request) -> web.Response:
    tid, owner, _ = await named_token_by_id(request)
    await request.app[NAMED_TOKENS].delete(owner, tid)
    return web.Response(status=204)
