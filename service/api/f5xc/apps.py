"""F5 third_party_application objects of a namespace: read, written, and their tokens generated.

Viewers list and read the applications of their namespace; editors also
write them and generate their tokens; a global admin may do everything.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from aiohttp_apispec import match_info_schema, querystring_schema, request_schema

from service.appkeys import APPLICATIONS, AUTHORITY, CLOCK
from service.appkeys import NAMESPACES as NAMESPACE_REPOSITORY
from service.errors import BadValue, Forbidden, NotFound
from service.metrics import TALLY, TOKENS_MINTED
from service.web.auth import Principal, authenticate
from service.web.ratelimit import set_rate_limit_headers
from service.web.responses import json_response

from .. import docs
from .. import f5xc_schemas as schemas
from .shared import CREATOR_CLASS, PATH_ERRORS, TENANT, documented, list_item, timestamp

APPS = "/api/config/namespaces/{namespace}/third_party_applications"
TAG_APPS = "F5 XC third_party_application"
_MINTED_F5 = TOKENS_MINTED.labels("f5")


def now_timestamp(request: web.Request) -> str:
    """The clock's now, as F5 writes a timestamp."""
    return timestamp(request.app[CLOCK].now())


# Who may do what ---------------------------------------------------------


async def _authorize(
    request: web.Request, ns: str, *, write: bool, namespace_must_exist: bool = False
) -> Principal:
    """The caller, if they may read (or, with `write`, change) applications of `ns`."""
    principal = await authenticate(request, allow_basic=False)
    namespaces = request.app[NAMESPACE_REPOSITORY]
    if principal.admin:
        # For others a role binding proves the namespace exists (bindings die with it).
        if namespace_must_exist and not await namespaces.exists(ns):
            raise NotFound("namespace not found")
        return principal
    role = await namespaces.role_of(ns, principal.user_id)
    if role is None or (write and role != "editor"):
        raise Forbidden("no permission on the namespace")
    return principal


async def _authorize_mint(request: web.Request, ns: str) -> tuple[Principal, str]:
    """The caller, if they may generate tokens in `ns`, and the role generation to mint under.

    An editor's tokens carry their role generation in `ns`, read with the role
    in one command: removing or changing the binding kills them. An admin's
    are not tied to a binding ('').
    """
    principal = await authenticate(request, allow_basic=False)
    if principal.admin:
        return principal, ""
    role, generation = await request.app[NAMESPACE_REPOSITORY].role_and_generation(
        ns, principal.user_id
    )
    if role != "editor":
        raise Forbidden("no permission on the namespace")
    return principal, generation


# Documents ---------------------------------------------------------------


def stored_metadata(meta: dict[str, Any], ns: str) -> dict[str, Any]:
    """An application's metadata as stored: the request's, in the namespace of the path."""
    return {
        "name": meta["name"],
        "namespace": ns,
        "labels": meta["labels"],
        "annotations": meta["annotations"],
        "description": meta["description"],
        "disable": meta["disable"],
    }


def check_metadata_namespace(meta: dict[str, Any], ns: str) -> None:
    """A request's metadata names no namespace, or the one of the path."""
    if meta["namespace"] not in ("", ns):
        raise BadValue("metadata", reason="metadata.namespace must match the namespace in the path")


def new_application(ns: str, body: dict[str, Any], creator: str, now: str) -> dict[str, Any]:
    """A new application's document: the request's metadata and spec, a new identity."""
    return {
        "metadata": stored_metadata(body["metadata"], ns),
        "spec": body["spec"],
        "system_metadata": {
            "uid": str(uuid.uuid4()),
            "tenant": TENANT,
            "creation_timestamp": now,
            "modification_timestamp": now,
            "creator_class": CREATOR_CLASS,
            "creator_id": creator,
        },
    }


def get_response_body(doc: dict[str, Any], response_format: str) -> dict[str, Any]:
    """F5's GET response for a stored application; with its replace form when asked for."""
    body: dict[str, Any] = {
        "metadata": doc["metadata"],
        "system_metadata": doc["system_metadata"],
        "spec": doc["spec"],
        "status": [],
        "referring_objects": [],
        "deleted_referred_objects": [],
        "disabled_referred_objects": [],
    }
    if response_format == "GET_RSP_FORMAT_FOR_REPLACE":
        body["replace_form"] = {"metadata": doc["metadata"], "spec": doc["spec"]}
    return body


# third_party_applications ------------------------------------------------


@documented(
    TAG_APPS,
    "List the applications of a namespace",
    docs.ok(200, schemas.ListResponseSchema),
    PATH_ERRORS,
)
@match_info_schema(schemas.NamespacePathSchema)
@querystring_schema(schemas.ListQuerySchema)
async def list_applications(request: web.Request) -> web.Response:
    ns = request["match_info"]["namespace"]
    await _authorize(request, ns, write=False, namespace_must_exist=True)
    with_spec = "report_fields" in request["querystring"]
    found = await request.app[APPLICATIONS].all(ns)
    return json_response({"items": [list_item(doc, with_spec) for doc in found], "errors": []})


@documented(
    TAG_APPS,
    "Create an application",
    docs.ok(200, schemas.AppCreateResponseSchema, "Created"),
    (409, 413, *PATH_ERRORS),
)
@match_info_schema(schemas.NamespacePathSchema)
@request_schema(schemas.AppRequestSchema, required=True)
async def create_application(request: web.Request) -> web.Response:
    ns = request["match_info"]["namespace"]
    body = request["data"]
    meta = body["metadata"]
    check_metadata_namespace(meta, ns)
    principal = await _authorize(request, ns, write=True, namespace_must_exist=True)
    doc = new_application(ns, body, principal.name, now_timestamp(request))
    await request.app[APPLICATIONS].create(ns, meta["name"], doc, disabled=meta["disable"])
    return json_response(
        {
            "metadata": doc["metadata"],
            "system_metadata": doc["system_metadata"],
            "spec": doc["spec"],
        }
    )


@documented(TAG_APPS, "Get an application", docs.ok(200, schemas.AppGetResponseSchema), PATH_ERRORS)
@match_info_schema(schemas.AppPathSchema)
@querystring_schema(schemas.GetQuerySchema)
async def get_application(request: web.Request) -> web.Response:
    ns, name = request["match_info"]["namespace"], request["match_info"]["name"]
    await _authorize(request, ns, write=False)
    doc = await request.app[APPLICATIONS].get(ns, name)
    if doc is None:
        raise NotFound("application not found")
    return json_response(get_response_body(doc, request["querystring"]["response_format"]))


@documented(
    TAG_APPS,
    "Replace an application (disabling it revokes its tokens)",
    docs.ok(200, schemas.EmptySchema, "Replaced"),
    (409, 413, *PATH_ERRORS),
)
@match_info_schema(schemas.AppPathSchema)
@request_schema(schemas.AppRequestSchema, required=True)
async def replace_application(request: web.Request) -> web.Response:
    ns, name = request["match_info"]["namespace"], request["match_info"]["name"]
    body = request["data"]
    meta = body["metadata"]
    if meta["name"] != name:
        raise BadValue("metadata", reason="metadata.name must match the name in the path")
    check_metadata_namespace(meta, ns)
    await _authorize(request, ns, write=True)
    apps = request.app[APPLICATIONS]
    old = await apps.get(ns, name)
    if old is None:
        raise NotFound("application not found")
    # Identity and creation stay; only the modification time moves.
    system = {**old["system_metadata"], "modification_timestamp": now_timestamp(request)}
    doc = {"metadata": stored_metadata(meta, ns), "spec": body["spec"], "system_metadata": system}
    await apps.replace(ns, name, doc, disabled=meta["disable"])
    return json_response({})


@documented(
    TAG_APPS,
    "Delete an application and every token it issued",
    docs.ok(200, schemas.EmptySchema, "Deleted"),
    (413, *PATH_ERRORS),
)
@match_info_schema(schemas.AppPathSchema)
@request_schema(schemas.DeleteRequestSchema)
async def delete_application(request: web.Request) -> web.Response:
    ns, name = request["match_info"]["namespace"], request["match_info"]["name"]
    body = request["data"]
    if body.get("name", name) != name or body.get("namespace", ns) not in ("", ns):
        raise BadValue("name", reason="name and namespace in the body must match the path")
    await _authorize(request, ns, write=True)
    await request.app[APPLICATIONS].delete(ns, name)
    return json_response({})


@documented(
    TAG_APPS,
    "Generate an AuthToken for the application (rate-limited)",
    docs.ok(200, schemas.GenerateTokenResponseSchema, "A new token", docs.RATE_LIMIT_HEADERS),
    (409, 429, *PATH_ERRORS),
    description="Editors and admins only (viewers get 403); 409 when the application is "
    "disabled. Counts against `generate_token` (per user, across every application and "
    "namespace) and `generate_token_app` (per application); RateLimit headers show the "
    "tighter. Removing or changing the caller's role binding revokes the tokens they "
    "generated in the namespace. " + docs.INHERITED,
)
@match_info_schema(schemas.AppPathSchema)
async def generate_token(request: web.Request) -> web.Response:
    ns, name = request["match_info"]["namespace"], request["match_info"]["name"]
    principal, role_generation = await _authorize_mint(request, ns)
    minted = await request.app[AUTHORITY].mint_f5(
        ns, name, principal.user_id, parent=principal.parent, role_generation=role_generation
    )
    TALLY.inc(_MINTED_F5)
    response = json_response({"token": minted.token}, headers={"Cache-Control": "no-store"})
    set_rate_limit_headers(response, minted.rate)
    return response
