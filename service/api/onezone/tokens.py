"""Public token operations: examine, confine and verify a token; no credentials needed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.appkeys import AUTHORITY, SETTINGS
from service.authority import F5_LOCATION, Authority, Identifier, Kind, check_time_range
from service.errors import BadValue, NotAnInviteToken, StoreError, TokenRejected
from service.metrics import TALLY, VERIFICATIONS
from service.tokens import caveats, encoding
from service.tokens.errors import MalformedToken, TokenError
from service.tokens.examine import examine
from service.tokens.identifiers import OnezoneIdentifier, parse_identifier
from service.tokens.macaroon import Macaroon
from service.tokens.verifier import Context
from service.web.dialects import onezone_error
from service.web.responses import json_response

from .. import docs
from .. import onezone_schemas as schemas
from .shared import documented, parse_caveats, request_body, subject_json


def bad_token_value(key: str, err: TokenError) -> BadValue:
    """Onezone's badValueToken, with the token error nested as `tokenError`."""
    _, body = onezone_error(err)
    return BadValue(key, "token", err.reason, tokenError=body["error"])


def deserialize(request: web.Request, token: str) -> Macaroon:
    """The Onezone token `token` of the body; badValueToken when it is none."""
    try:
        return encoding.deserialize_onezone(token, request.app[SETTINGS].onezone.max_token_size)
    except TokenError as err:
        raise bad_token_value("token", err) from err


@documented(
    "Examine a token without verifying it",
    docs.ok(200, schemas.OnezoneExaminedTokenSchema),
    (400, 413),
    public=True,
    description=(
        "Any encoding of an Onezone token of this service (V1 or V2, either base64 alphabet, "
        "padded or not, Onedata-escaped or not). Refused with badValueToken: an identifier "
        "that is not this service's (tokenError badToken, nothing is guessed), a location "
        "other than onezone.domain (badToken), a third-party caveat (tokenCaveatUnknown: "
        "not supported)."
    ),
    body=schemas.OnezoneTokenRequestSchema,
)
async def examine_token(request: web.Request) -> web.Response:
    m = deserialize(request, request_body(request)["token"])
    try:
        # Onezone tokens of this service only: of the configured domain, with an
        # identifier of ours (F5 tokens have their own location), no third-party caveat.
        if not isinstance(parse_identifier(m.identifier), OnezoneIdentifier):
            raise MalformedToken("not an Onezone token")
        result = examine(m, request.app[AUTHORITY].domain, F5_LOCATION)
    except TokenError as err:
        raise bad_token_value("token", err) from err
    return json_response(result)


@documented(
    "Confine a token with more caveats (no key needed)",
    docs.ok(200, schemas.OnezoneTokenSchema, "The confined token"),
    (400, 413),
    public=True,
    body=schemas.OnezoneConfineRequestSchema,
)
async def confine_token(request: web.Request) -> web.Response:
    body = request_body(request)
    m = deserialize(request, body["token"])
    cavs = parse_caveats(body["caveats"])
    check_time_range(cavs)
    for cav in cavs:
        m = m.add_first_party_caveat(caveats.to_text(cav))
    return json_response({"token": encoding.serialize_onezone(m)})


_VERIFIED_VALID = VERIFICATIONS.labels("valid")
_VERIFIED_INVALID = VERIFICATIONS.labels("invalid")
_VERIFIED_UNAVAILABLE = VERIFICATIONS.labels("unavailable")


async def verify(request: web.Request, kind: Kind) -> web.Response:
    """Verify the body's token as a token of `kind`: its subject and remaining ttl; counted."""
    body = request_body(request)
    authority = request.app[AUTHORITY]
    now = authority.now()
    try:
        result = await authority.verify(body["token"], kind, _verify_context, (request, body, now))
    except (TokenError, TokenRejected):
        TALLY.inc(_VERIFIED_INVALID)
        raise
    except StoreError:
        TALLY.inc(_VERIFIED_UNAVAILABLE)
        raise
    TALLY.inc(_VERIFIED_VALID)
    return json_response(
        {"subject": subject_json(result.identifier.user_id), "ttl": result.verified.ttl(now)}
    )


def _verify_context(
    authority: Authority, ident: Identifier, about: tuple[web.Request, dict[str, Any], int]
) -> Context:
    """The context a verify_* route checks a token against: what the body says of the request.

    `about`: the request, its body, and the time its answer's ttl is counted from.
    """
    request, body, now = about
    # As in Onezone: the peer defaults to the caller, and api caveats are
    # checked by the consuming service per operation, not here.
    peer = body.get("peerIp") or request.remote
    return Context(
        now=now,
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


def verify_docs(summary: str) -> Any:
    """The docs of a route that verifies a token of one kind."""
    return documented(
        summary,
        docs.ok(
            200,
            schemas.OnezoneVerifyTokenResponseSchema,
            "Valid: its subject and remaining ttl",
        ),
        (400, 413, 503),
        public=True,
        body=schemas.OnezoneVerifyRequestSchema,
    )


@verify_docs("Verify an access token")
async def verify_access_token(request: web.Request) -> web.Response:
    return await verify(request, "access")


@verify_docs("Verify an identity token")
async def verify_identity_token(request: web.Request) -> web.Response:
    return await verify(request, "identity")


@documented(
    "Verify an invite token: this service issues none, so every token is refused",
    docs.ok(200, schemas.OnezoneVerifyTokenResponseSchema, "Never: no invite token exists here"),
    (400, 413),
    public=True,
    description="Invite tokens are not supported. A token of this service (any encoding) "
    "is refused with Onezone's notAnInviteToken (details: expectedInviteType, received); "
    "a foreign or malformed one with badToken.",
    body=schemas.OnezoneVerifyInviteRequestSchema,
)
async def verify_invite_token(request: web.Request) -> web.Response:
    body = request_body(request)
    # As Onezone, the type is judged before the signature: it is no secret.
    _, ident = request.app[AUTHORITY].parse(body["token"])
    TALLY.inc(_VERIFIED_INVALID)
    # An F5 AuthToken is an access token too (to its application).
    kind = ident.kind if isinstance(ident, OnezoneIdentifier) else "access"
    raise NotAnInviteToken(body.get("expectedInviteType", "any"), kind)
