"""Request and response bodies of the Onezone dialect, as marshmallow schemas.

Field names and types follow Onezone's Swagger definitions
(`definitions/tokens/*.yaml`). Unknown keys are dropped, as Onezone does.
A field's `error_kind` metadata names the `badValue<Kind>` error it raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from service.tokens.caveats import INTERFACES

TOKEN_TYPES = {"accessToken": "access", "identityToken": "identity"}
# Onezone's own example token (its Swagger spec, POST /user/client_tokens).
EXAMPLE_TOKEN = (
    "MDAxNWxvY2F00aW9uIG9uZXpvbmUKMDAzYmlkZW500aWZpZXIgSlVxNGFLVkJSTXVFN3FLbHNQVHlNX00lLeHpYZXNW"
    "dVFSMGNfMldpOXFZNAowMDFhY2lkIHRpbWUgPCAxNTIyMzU4MzMzCjAwMmZzaWduYXR1cmUgv02ByyOA9802H02rPMB7"
    "Y9mIhDVAjYDmjAUjtrMs13znukK"
)


class StrictBoolean(fields.Boolean):
    """A JSON boolean only: marshmallow's Boolean would also take "yes" or 1."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class TokenType(fields.Field[str]):
    """`{"accessToken": {}}` or `{"identityToken": {}}`, loaded as "access" / "identity"."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "error_kind": "tokenType",
            "type": "object",
            "description": '{"accessToken": {}} or {"identityToken": {}}',
            "example": {"accessToken": {}},
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if isinstance(value, dict) and len(value) == 1:
            (key, params), *_ = value.items()
            if key in TOKEN_TYPES and isinstance(params, dict):
                return TOKEN_TYPES[key]
        raise ValidationError("not a valid token type")


class _Body(Schema):
    """Request bodies: Onezone ignores keys it does not know; so does this service."""

    class Meta:
        unknown = EXCLUDE


# Caveats are taken raw and parsed by the handler, so that a bad one is
# reported as Onezone's badValueCaveat carrying the caveat as submitted.
def _caveats(example: list[dict[str, Any]], required: bool = False) -> fields.Raw:
    return fields.Raw(
        required=required,
        metadata={
            "description": "Caveats in Onezone's JSON forms",
            "type": "array",
            "items": {"type": "object"},
            "example": example,
        },
    )


IP_CAVEAT = {"type": "ip", "whitelist": ["10.0.0.0/8"]}
# A fixed example date: the service refuses one further away than max_temporary_token_ttl.
TIME_CAVEAT = {"type": "time", "validUntil": 1893456000}
INTERFACE_CAVEAT = {"type": "interface", "interface": "rest"}
CUSTOM_METADATA = {"purpose": "ci"}


class OnezoneNamedTokenCreateRequestSchema(_Body):
    name = fields.String(
        required=True,
        metadata={"description": "Unique among the user's tokens", "example": "my-token"},
    )
    type = TokenType()
    caveats = _caveats([IP_CAVEAT])
    customMetadata = fields.Dict(metadata={"example": CUSTOM_METADATA})
    revoked = StrictBoolean(metadata={"example": False})


class OnezoneNamedTokenUpdateRequestSchema(_Body):
    customMetadata = fields.Dict(metadata={"example": CUSTOM_METADATA})
    revoked = StrictBoolean(metadata={"example": True})


class OnezoneTemporaryTokenCreateRequestSchema(_Body):
    type = TokenType()
    caveats = _caveats([TIME_CAVEAT])


def _token() -> fields.String:
    return fields.String(
        required=True, metadata={"description": "A serialized token", "example": EXAMPLE_TOKEN}
    )


class OnezoneTokenRequestSchema(_Body):
    token = _token()


class OnezoneConfineRequestSchema(_Body):
    token = _token()
    caveats = _caveats([INTERFACE_CAVEAT], required=True)


class OnezoneVerifyRequestSchema(_Body):
    token = _token()
    peerIp = fields.IP(metadata={"error_kind": "iPv4Address", "example": "10.0.0.1"})
    service = fields.String(metadata={"description": "e.g. opw-<id>"})
    consumer = fields.String(metadata={"description": "e.g. usr-<id>"})
    interface = fields.String(
        validate=validate.OneOf(sorted(INTERFACES)), metadata={"error_kind": "notAllowed"}
    )
    allowDataAccessCaveats = StrictBoolean()
    # The request the token is used for, for http.* caveats (absent: they fail closed).
    method = fields.String(
        validate=validate.Regexp(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$"),
        metadata={"description": "HTTP method, for http.method caveats", "example": "GET"},
    )
    path = fields.String(
        validate=validate.Length(min=1, max=8192),
        metadata={"description": "Request target, for http.path caveats", "example": "/orders/1"},
    )
    host = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Host, for http.host caveats", "example": "api.example.com"},
    )


INVITE_TYPES = (
    "userJoinGroup",
    "groupJoinGroup",
    "userJoinSpace",
    "groupJoinSpace",
    "supportSpace",
    "harvesterJoinSpace",
    "registerOneprovider",
    "userJoinCluster",
    "groupJoinCluster",
    "userJoinHarvester",
    "groupJoinHarvester",
    "spaceJoinHarvester",
)


class OnezoneVerifyInviteRequestSchema(_Body):
    """Onezone's VerifyInviteTokenRequest; this service issues no invite tokens."""

    token = _token()
    peerIp = fields.IP(metadata={"error_kind": "iPv4Address", "example": "10.0.0.1"})
    consumerToken = fields.String(metadata={"description": "The consumer's identity token"})
    expectedInviteType = fields.String(
        validate=validate.OneOf(INVITE_TYPES),
        metadata={"error_kind": "notAllowed", "example": "userJoinGroup"},
    )


# Response bodies: documentation only.


class OnezoneErrorObjectSchema(Schema):
    id = fields.String(
        required=True, metadata={"description": "Onedata's error id, e.g. badValueString"}
    )
    details = fields.Dict(metadata={"description": 'Context, e.g. {"key": "name"}'})
    description = fields.String(required=True)


class OnezoneErrorSchema(Schema):
    """Every error of the dialect: `{"error": {"id", "details"?, "description"}}`."""

    error = fields.Nested(OnezoneErrorObjectSchema, required=True)


class OnezoneTokenSchema(Schema):
    token = fields.String(required=True)


class OnezoneTokensSchema(Schema):
    tokens = fields.List(fields.String(), required=True)


class OnezoneNamedTokenCreateResponseSchema(Schema):
    tokenId = fields.String(required=True)
    token = fields.String(required=True)


class OnezoneSubjectSchema(Schema):
    type = fields.String(required=True)
    id = fields.String(required=True, allow_none=True)


class OnezoneTokenMetadataSchema(Schema):
    creationTime = fields.Integer(required=True)
    custom = fields.Dict(required=True)


class OnezoneNamedTokenSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    subject = fields.Nested(OnezoneSubjectSchema, required=True)
    type = fields.Dict(required=True)
    caveats = fields.List(fields.Dict(), required=True)
    metadata = fields.Nested(OnezoneTokenMetadataSchema, required=True)
    revoked = fields.Boolean(required=True)
    token = fields.String(required=True, allow_none=True)


class OnezoneNamedTokenStatusSchema(Schema):
    revoked = fields.Boolean(required=True)


class OnezoneTemporaryTokenGenerationSchema(Schema):
    generation = fields.Integer(required=True)


class OnezoneExaminedTokenSchema(Schema):
    onezoneDomain = fields.String(required=True)
    id = fields.String(required=True)
    persistence = fields.String(required=True, metadata={"enum": ["named", "temporary"]})
    generation = fields.Integer(metadata={"description": "Temporary tokens: their generation"})
    subject = fields.Nested(OnezoneSubjectSchema, required=True)
    type = fields.Dict(required=True)
    caveats = fields.List(fields.Dict(), required=True)


class OnezoneVerifyTokenResponseSchema(Schema):
    subject = fields.Nested(OnezoneSubjectSchema, required=True)
    ttl = fields.Integer(required=True, allow_none=True)


class OnezoneUserSchema(Schema):
    userId = fields.String(required=True)
    fullName = fields.String(required=True)
    username = fields.String(allow_none=True)
    emails = fields.List(fields.String())
    linkedAccounts = fields.List(fields.Dict())
    basicAuthEnabled = fields.Boolean()
    blocked = fields.Boolean()
    creationTime = fields.Integer()
    name = fields.String()
    login = fields.String()
    alias = fields.String()
    emailList = fields.List(fields.String())
