"""Users: the caller's record, a user's tokens (/users/{id}/tokens/…), everyone's tokens.

The /users/{id}/tokens/… routes are twins of the caller's /user/tokens/…
routes: the same work, done by the user themselves or by an admin for them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from marshmallow import Schema

from service.appkeys import NAMED_TOKENS, STATE, USERS
from service.errors import Forbidden, NotFound, StoreError
from service.web.auth import authenticate
from service.web.responses import json_response

from .. import docs
from .. import onezone_schemas as schemas
from .named import (
    NAMED_TOKEN_GRI,
    NAMED_TOKENS_GRI,
    create_named,
    delete_all_named,
    list_named,
    named_by_name,
)
from .shared import AUTH_ERRORS, TOKEN_NAME, documented, for_user, path_parameter, resolve_user
from .temporary import (
    GENERATION_GRI,
    TEMPORARY_TOKEN_GRI,
    TEMPORARY_TOKENS_GRI,
    create_temporary,
    revoke_temporary,
    temporary_generation,
)

# The dialect's one logger, named after the package.
log = logging.getLogger(__package__)

USER_ID = path_parameter("id", "User id: the hex id of usr-<id>")
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
USER_ERRORS = (403, 404, *AUTH_ERRORS)


@documented(
    "Get the authenticated user", docs.ok(200, schemas.OnezoneUserSchema), (404, *AUTH_ERRORS)
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


# A user's tokens (the user, or an admin) ----------------------------------


def documented_for_user(
    summary: str,
    ok: dict[str, dict[str, Any]],
    errors: tuple[int, ...] = (),
    *,
    description: str = OTHER_USERS,
    name: bool = False,
    body: type[Schema] | None = None,
) -> Any:
    """`documented` for a /users/{id}/… route: its path parameters, the errors of acting for a user.

    `name`: the route has a token's `{name}` in its path too.
    """
    return documented(
        summary,
        ok,
        (*errors, *USER_ERRORS),
        parameters=[USER_ID, TOKEN_NAME] if name else [USER_ID],
        description=description,
        body=body,
    )


create_named_token_for_user = documented_for_user(
    "Create a named token for a user",
    docs.ok(
        201,
        schemas.OnezoneNamedTokenCreateResponseSchema,
        "Created",
        {**docs.LOCATION_HEADER, **docs.RATE_LIMIT_HEADERS},
    ),
    (400, 413),
    description="As POST /user/tokens/named, for user {id}: the token is theirs (subject, "
    "listing, their `mint` rate limit). " + OTHER_USERS + ANOTHER_USERS_MINT,
    body=schemas.OnezoneNamedTokenCreateRequestSchema,
)(for_user(NAMED_TOKEN_GRI, create_named))

list_named_tokens_of_user = documented_for_user(
    "List the ids of a user's named tokens", docs.ok(200, schemas.OnezoneTokensSchema, "Token ids")
)(for_user(NAMED_TOKENS_GRI, list_named))

delete_named_tokens_of_user = documented_for_user(
    "Delete all named tokens of a user", docs.ok(204, description="Deleted")
)(for_user(NAMED_TOKENS_GRI, delete_all_named))


@documented_for_user(
    "Get a named token of a user by its name",
    docs.ok(200, schemas.OnezoneNamedTokenSchema),
    name=True,
)
async def get_named_token_of_user_by_name(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    principal, user_id = await resolve_user(
        request, lambda uid: f"token.{name}.user_named_token,{uid}", serialized=True
    )
    return await named_by_name(request, principal, user_id)


create_temporary_token_for_user = documented_for_user(
    "Create a temporary token for a user (a time caveat is required)",
    docs.ok(201, schemas.OnezoneTokenSchema, "Created", docs.RATE_LIMIT_HEADERS),
    (400, 413),
    description="As POST /user/tokens/temporary, for user {id}. "
    + OTHER_USERS
    + ANOTHER_USERS_MINT,
    body=schemas.OnezoneTemporaryTokenCreateRequestSchema,
)(for_user(TEMPORARY_TOKEN_GRI, create_temporary))

get_temporary_generation_of_user = documented_for_user(
    "Get the generation of a user's temporary tokens",
    docs.ok(200, schemas.OnezoneTemporaryTokenGenerationSchema),
)(for_user(GENERATION_GRI, temporary_generation))

revoke_temporary_tokens_of_user = documented_for_user(
    "Revoke all temporary tokens of a user", docs.ok(204, description="Revoked")
)(for_user(TEMPORARY_TOKENS_GRI, revoke_temporary))


# Every user's tokens (admins) ---------------------------------------------


@documented(
    "List the ids of every user's named tokens (admins)",
    docs.ok(200, schemas.OnezoneTokensSchema, "Token ids"),
    (403, *AUTH_ERRORS),
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
