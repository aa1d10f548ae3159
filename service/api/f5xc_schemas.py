"""Marshmallow schemas of the F5 Distributed Cloud dialect: requests validated, responses documented.

Field names and limits follow F5 XC's public `ves.io.schema` OpenAPI files
(`ObjectCreateMetaType`, `third_party_application` `ReplaceSpecType`,
`namespace` `CreateRequest`). Where F5 would tolerate extra fields (a GET
response fed back as a PUT body), unknown keys are dropped; the spec itself is
strict, so that a misspelt choice is refused instead of silently replaced by
its default.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

# DNS-1035 label: what F5 (and Kubernetes) accept as an object or namespace name.
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS_1035_MAX = 63
NAME_RULE = "must be a DNS-1035 label: at most 63 characters of a-z, 0-9 and '-', starting with a letter and ending with a letter or digit"


# The same rule for the API description, so that clients (and generated tests) see it.
NAME_DOC = {"pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": DNS_1035_MAX}
EXAMPLE_NAMESPACE = "team-a"
EXAMPLE_APP = "my-app"


def is_dns_1035(name: str) -> bool:
    """Whether `name` is a DNS-1035 label of at most 63 characters."""
    return len(name) <= DNS_1035_MAX and DNS_1035.fullmatch(name) is not None


def _dns_1035(value: str) -> None:
    if not is_dns_1035(value):
        raise ValidationError(NAME_RULE)


def _max_bytes(limit: int) -> Any:
    def check(value: str) -> None:
        if len(value.encode("utf-8")) > limit:
            raise ValidationError(f"must be at most {limit} bytes")

    return check


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class _Strict(Schema):
    class Meta:
        unknown = RAISE


# Request bodies ----------------------------------------------------------


class ObjectMetaSchema(_Lenient):
    """ObjectCreateMetaType / ObjectReplaceMetaType."""

    name = fields.String(
        required=True,
        validate=_dns_1035,
        metadata={"description": "DNS-1035 label", "example": EXAMPLE_APP, **NAME_DOC},
    )
    namespace = fields.String(
        load_default="", metadata={"description": "the namespace of the path, or empty"}
    )
    # Label keys as Kubernetes has them: a DNS prefix (253) '/' a name (63).
    labels = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 317)),
        values=fields.String(validate=validate.Length(max=1024)),
        load_default=dict,
    )
    annotations = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 64)),
        values=fields.String(validate=validate.Length(1, 1024)),
        load_default=dict,
    )
    description = fields.String(load_default="", validate=_max_bytes(1200))
    disable = fields.Boolean(load_default=False)


class ObjectRefSchema(_Strict):
    """views ObjectRefType: a reference to another object."""

    name = fields.String(required=True, validate=validate.Length(1, 128))
    namespace = fields.String(validate=validate.Length(max=64))
    tenant = fields.String(validate=validate.Length(max=64))


# Each one-of group takes at most one key; absent, the first (empty) choice applies.
ONE_OF_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("api_definition_choice", ("disable_api_definition", "api_specification")),
    ("api_discovery_choice", ("disable_api_discovery", "enable_api_discovery")),
    ("sensitive_data_policy_choice", ("default_sensitive_data_policy", "sensitive_data_policy")),
)


def _choice(description: str) -> fields.Dict:
    return fields.Dict(keys=fields.String(), metadata={"description": description})


class AppSpecSchema(_Strict):
    """third_party_application ReplaceSpecType (== GetSpecType)."""

    disable_api_definition = _choice("api_definition_choice: no API definition ({})")
    api_specification = _choice("api_definition_choice: common_waf APISpecificationSettings")
    disable_api_discovery = _choice("api_discovery_choice: discovery off ({})")
    enable_api_discovery = _choice("api_discovery_choice: common_waf ApiDiscoverySetting")
    default_sensitive_data_policy = _choice("sensitive_data_policy_choice: the default ({})")
    sensitive_data_policy = _choice(
        "sensitive_data_policy_choice: common_security SensitiveDataPolicySettings"
    )
    service_discovery = fields.Nested(ObjectRefSchema)

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        for group, keys in ONE_OF_GROUPS:
            given = [k for k in keys if k in data]
            if len(given) > 1:
                raise ValidationError(f"{group} takes one of {', '.join(keys)}, not several")

    @post_load
    def _defaults(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        for _group, keys in ONE_OF_GROUPS:
            if not any(k in data for k in keys):
                data[keys[0]] = {}
        return data


class AppRequestSchema(_Lenient):
    """CreateRequest / ReplaceRequest: `{metadata, spec}`."""

    metadata = fields.Nested(ObjectMetaSchema, required=True)
    spec = fields.Nested(AppSpecSchema, load_default=lambda: AppSpecSchema().load({}))


class DeleteRequestSchema(_Lenient):
    """DeleteRequest: an optional body; `name` and `namespace`, when given, must match the path."""

    fail_if_referred = fields.Boolean()
    name = fields.String()
    namespace = fields.String()


class NamespaceRequestSchema(_Lenient):
    """namespace CreateRequest: `{metadata, spec: {}}`."""

    metadata = fields.Nested(ObjectMetaSchema, required=True)
    spec = fields.Dict(load_default=dict)


class RoleBindingRequestSchema(_Strict):
    """A user's role in a namespace."""

    role = fields.String(
        required=True,
        validate=validate.OneOf(("editor", "viewer")),
        metadata={"example": "editor"},
    )


def _dns_name(description: str, example: str) -> fields.String:
    # Swagger 2.0 parameters carry examples as x-example.
    return fields.String(
        required=True,
        validate=_dns_1035,
        metadata={"description": description, "x-example": example, **NAME_DOC},
    )


class NamespacePathSchema(_Strict):
    namespace = _dns_name("The namespace", EXAMPLE_NAMESPACE)


class AppPathSchema(_Strict):
    namespace = _dns_name("The namespace", EXAMPLE_NAMESPACE)
    name = _dns_name("The application", EXAMPLE_APP)


class NamePathSchema(_Strict):
    name = _dns_name("The namespace", EXAMPLE_NAMESPACE)


class RoleBindingPathSchema(_Strict):
    name = _dns_name("The namespace", EXAMPLE_NAMESPACE)
    user = fields.String(
        required=True,
        validate=validate.Length(1, 256),
        metadata={"description": "A username", "x-example": "admin"},
    )


RESPONSE_FORMATS = (
    "GET_RSP_FORMAT_DEFAULT",
    "GET_RSP_FORMAT_FOR_REPLACE",
    "GET_RSP_FORMAT_STATUS",
    "GET_RSP_FORMAT_READ",
    "GET_RSP_FORMAT_REFERRING_OBJECTS",
    "GET_RSP_FORMAT_BROKEN_REFERENCES",
)


class GetQuerySchema(_Lenient):
    response_format = fields.String(
        load_default="GET_RSP_FORMAT_DEFAULT", validate=validate.OneOf(RESPONSE_FORMATS)
    )


class ListQuerySchema(_Lenient):
    label_filter = fields.String(metadata={"description": "accepted, not applied"})
    report_fields = fields.String(metadata={"description": "when present, items carry get_spec"})
    report_status_fields = fields.String(metadata={"description": "accepted, not applied"})


# Responses (documentation only: handlers build plain dicts) ---------------


class ObjectGetMetaSchema(Schema):
    name = fields.String()
    namespace = fields.String()
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    annotations = fields.Dict(keys=fields.String(), values=fields.String())
    description = fields.String()
    disable = fields.Boolean()


class SystemMetaSchema(Schema):
    uid = fields.String()
    tenant = fields.String()
    creation_timestamp = fields.String(metadata={"format": "date-time"})
    modification_timestamp = fields.String(metadata={"format": "date-time"})
    creator_class = fields.String()
    creator_id = fields.String()


class ReplaceFormSchema(Schema):
    metadata = fields.Nested(ObjectGetMetaSchema)
    spec = fields.Nested(AppSpecSchema)


class AppGetResponseSchema(Schema):
    metadata = fields.Nested(ObjectGetMetaSchema)
    system_metadata = fields.Nested(SystemMetaSchema)
    spec = fields.Nested(AppSpecSchema)
    replace_form = fields.Nested(
        ReplaceFormSchema,
        metadata={"description": "Only with response_format=GET_RSP_FORMAT_FOR_REPLACE"},
    )
    status = fields.List(fields.Dict())
    referring_objects = fields.List(fields.Dict())
    deleted_referred_objects = fields.List(fields.Dict())
    disabled_referred_objects = fields.List(fields.Dict())


class AppCreateResponseSchema(Schema):
    metadata = fields.Nested(ObjectGetMetaSchema)
    system_metadata = fields.Nested(SystemMetaSchema)
    spec = fields.Nested(AppSpecSchema)


class ListItemSchema(Schema):
    name = fields.String()
    namespace = fields.String()
    tenant = fields.String()
    uid = fields.String()
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    annotations = fields.Dict(keys=fields.String(), values=fields.String())
    description = fields.String()
    disabled = fields.Boolean()
    metadata = fields.Nested(ObjectGetMetaSchema)
    system_metadata = fields.Nested(SystemMetaSchema)
    get_spec = fields.Dict(allow_none=True)
    owner_view = fields.Dict(allow_none=True)
    status_set = fields.List(fields.Dict())


class ListErrorSchema(Schema):
    code = fields.String()
    message = fields.String()


class ListResponseSchema(Schema):
    items = fields.List(fields.Nested(ListItemSchema))
    errors = fields.List(fields.Nested(ListErrorSchema))


class NamespaceResponseSchema(Schema):
    metadata = fields.Nested(ObjectGetMetaSchema)
    system_metadata = fields.Nested(SystemMetaSchema)
    spec = fields.Dict()


class GenerateTokenResponseSchema(Schema):
    token = fields.String(
        metadata={"description": "standard base64 of the AuthToken (V2 macaroon)"}
    )


class EmptySchema(Schema):
    pass


class RoleBindingSchema(Schema):
    user = fields.String()
    role = fields.String()


class RoleBindingListSchema(Schema):
    items = fields.List(fields.Nested(RoleBindingSchema))
