"""The caller's temporary tokens (/user/tokens/temporary): minted, counted, revoked all at once.

A temporary token has no record: it dies with its time caveat, or when its
owner's generation moves on (revoking all of them).
"""

from __future__ import annotations

from aiohttp import web

from service.appkeys import AUTHORITY, SETTINGS, TEMPORARY_TOKENS
from service.authority import Kind
from service.web.auth import Principal
from service.web.responses import json_response

from .. import docs
from .. import onezone_schemas as schemas
from .shared import (
    AUTH_ERRORS,
    documented,
    for_caller,
    minted_response,
    parse_caveats,
    request_body,
)

# The GRIs of a user's temporary tokens, `{user}` standing for their owner.
TEMPORARY_TOKEN_GRI = "token.null.user_temporary_token,{user}"
TEMPORARY_TOKENS_GRI = "token.null.user_temporary_tokens,{user}"
GENERATION_GRI = "temporary_token_secret.{user}.user:shared"


async def create_temporary(
    request: web.Request, principal: Principal, user_id: str
) -> web.Response:
    """Mint a temporary token for `user_id` from the request's body."""
    body = request_body(request)
    kind: Kind = body.get("type", "access")
    cavs = parse_caveats(body.get("caveats"))
    minted = await request.app[AUTHORITY].mint_temporary(
        user_id, kind, cavs, parent=principal.parent
    )
    return minted_response("temporary", {"token": minted.token}, 201, minted.rate)


create_temporary_token = documented(
    "Create a temporary token (a time caveat is required)",
    docs.ok(201, schemas.OnezoneTokenSchema, "Created", docs.RATE_LIMIT_HEADERS),
    (400, 413, *AUTH_ERRORS),
    description="The `time` caveat may not exceed onezone.max_temporary_token_ttl "
    "(tokenTimeCaveatRequired with details.maxTtl); counts against the `mint` rate limit. "
    + docs.INHERITED,
    body=schemas.OnezoneTemporaryTokenCreateRequestSchema,
)(for_caller(TEMPORARY_TOKEN_GRI, create_temporary))


async def temporary_generation(
    request: web.Request, principal: Principal, user_id: str
) -> web.Response:
    """The generation of `user_id`'s temporary tokens."""
    generation = await request.app[TEMPORARY_TOKENS].generation(user_id)
    return json_response({"generation": generation})


get_temporary_generation = documented(
    "Get the generation of the current user's temporary tokens",
    docs.ok(200, schemas.OnezoneTemporaryTokenGenerationSchema),
    AUTH_ERRORS,
)(for_caller(GENERATION_GRI, temporary_generation))


async def revoke_temporary(
    request: web.Request, principal: Principal, user_id: str
) -> web.Response:
    """Revoke every temporary token of `user_id`."""
    await request.app[TEMPORARY_TOKENS].revoke(
        user_id, request.app[SETTINGS].onezone.max_temporary_token_ttl
    )
    return web.Response(status=204)


revoke_temporary_tokens = documented(
    "Revoke all temporary tokens of the current user",
    docs.ok(204, description="Revoked"),
    AUTH_ERRORS,
)(for_caller(TEMPORARY_TOKENS_GRI, revoke_temporary))
