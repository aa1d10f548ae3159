"""Client tokens (/user/client_tokens): Onezone's deprecated face of the caller's named tokens.

A client token is a named access token with a generated name and a time
limit. The routes answer with the Deprecation headers that settings give them.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from service.appkeys import AUTHORITY, NAMED_TOKENS, SETTINGS
from service.errors import NameOccupied, NotFound
from service.tokens.caveats import TimeCaveat
from service.tokens.errors import TokenError
from service.web.auth import authenticate
from service.web.responses import json_response

from .. import docs
from .. import onezone_schemas as schemas
from .shared import AUTH_ERRORS, documented, minted_response, path_parameter

# Generated names are random: a clash is rare, and a few tries make it vanish.
CLIENT_TOKEN_NAME_ATTEMPTS = 3


@documented(
    "Create a client token (deprecated: use POST /user/tokens/named)",
    docs.ok(200, schemas.OnezoneTokenSchema, "A new named access token", docs.RATE_LIMIT_HEADERS),
    (400, *AUTH_ERRORS),
    deprecated=True,
    description="A named access token with a generated name and a `time <` caveat of "
    "onezone.client_token_ttl; counts against the `mint` rate limit. " + docs.INHERITED,
)
async def create_client_token(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="user.{user}.client_tokens")
    authority = request.app[AUTHORITY]
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
    return minted_response("named", {"token": minted.token}, 200, minted.rate)


@documented(
    "List client tokens (deprecated: use GET /user/tokens/named)",
    docs.ok(200, schemas.OnezoneTokensSchema, "The serialized named tokens"),
    AUTH_ERRORS,
    deprecated=True,
)
async def list_client_tokens(request: web.Request) -> web.Response:
    principal = await authenticate(request, api_gri="user.{user}.client_tokens")
    if principal.confined:
        # Serialized tokens are shown only to unconfined credentials.
        return json_response({"tokens": []})
    authority = request.app[AUTHORITY]
    tokens = [
        authority.named_token_from_record(principal.user_id, tid, record)
        for tid, record in await request.app[NAMED_TOKENS].records(principal.user_id)
    ]
    return json_response({"tokens": [t for t in tokens if t is not None]})


@documented(
    "Delete a client token, given as the serialized token "
    "(deprecated: use DELETE /tokens/named/{id})",
    docs.ok(204, description="Deleted"),
    (400, 401, 404, 429, 503),
    deprecated=True,
    parameters=[path_parameter("token", "The serialized token")],
)
async def delete_client_token(request: web.Request) -> web.Response:
    authority = request.app[AUTHORITY]
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
