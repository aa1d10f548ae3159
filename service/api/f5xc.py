"""The F5 Distributed Cloud dialect: third_party_application objects, namespaces and role bindings.

Callers authenticate with `Authorization: APIToken <access token>` (Bearer is
accepted too). A global admin may do everything; in a namespace an `editor`
manages applications and generates their tokens, a `viewer` lists and reads.
A caller without a binding gets 403 whether or not the namespace exists, so
namespace names do not leak. Errors are JSON strings (see web/dialects.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, match_info_schema, querystring_schema, request_schema

from service.appkeys import APPLICATIONS, AUTHORITY, CLOCK, USERS
from service.appkeys import NAMESPACES as NAMESPACE_REPOSITORY
from service.errors import BadValue, Forbidden, NotFound
from service.metrics import TALLY, TOKENS_MINTED
from service.web.auth import Principal, authenticate
from service.web.ratelimit import set_rate_limit_headers
from service.web.responses import json_response

from . import docs as d
from . import f5xc_schemas as s

APPS = "/api/config/namespaces/{namespace}/third_party_applications"
NAMESPACES = "/api/web/namespaces"

# One tenant per deployment: F5's tenant is the customer account, which this
# service does not model.
TENANT = "default"
CREATOR_CLASS = "token-service"
TAG_APPS = "F5 XC third_party_application"
TAG_ADMIN = "F5 XC namespaces (admin)"


def _documented(
    tag: str,
    summary: str,
    ok: dict[str, dict[str, Any]],
    *errors: int,
    description: str | None = None,
) -> Any:
    """aiohttp-apispec's `docs` with this dialect's security and JSON-string error bodies."""
    extra = {"description": description} if description else {}
    return docs(
        tags=[tag],
        summary=summary,
        security=d.F5_SECURITY,
        responses={**ok, **d.f5_errors(*sorted(errors))},
        **extra,
    )


# Every route: unusable token, no permission, store down or slow.
AUTH_ERRORS = (401, 403, 503, 504)
_MINTED_F5 = TOKENS_MINTED.labels("f5")


def timestamp(unix: float) -> str:
    """RFC 3339 in UTC, fractional seconds only when there are some (as protobuf JSON does)."""
    dt = datetime.fromtimestamp(unix, UTC)
    frac = f".{dt.microsecond:06d}" if dt.microsecond else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def _now(request: web.Request) -> str:
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


async def _admin(request: web.Request) -> Principal:
    principal = await authenticate(request, allow_basic=False)
    if not principal.admin:
        raise Forbidden("no permission")
    return principal


# Documents ---------------------------------------------------------------


def _metadata(meta: dict[str, Any], ns: str) -> dict[str, Any]:
    return {
        "name": meta["name"],
        "namespace": ns,
        "labels": meta["labels"],
        "annotations": meta["annotations"],
        "description": meta["description"],
        "disable": meta["disable"],
    }


def _check_metadata_namespace(meta: dict[str, Any], ns: str) -> None:
    if meta["namespace"] not in ("", ns):
        raise BadValue("metadata", reason="metadata.namespace must match the namespace in the path")


def _get_response(doc: dict[str, Any], response_format: str) -> dict[str, Any]:
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


def _list_item(doc: dict[str, Any], with_spec: bool) -> dict[str, Any]:
    meta, system = doc["metadata"], doc["system_metadata"]
    return {
        "name": meta["name"],
        "namespace": meta["namespace"],
        "tenant": system.get("tenant", TENANT),
        "uid": system.get("uid", ""),
        "labels": meta.get("labels", {}),
        "annotations": meta.get("annotations", {}),
        "description": meta.get("description", ""),
        # F5 spells it `disabled` in list items and `disable` in metadata.
        "disabled": bool(meta.get("disable", False)),
        "metadata": meta,
        "system_metadata": system,
        "get_spec": doc["spec"] if with_spec else None,
        "owner_view": None,
        "status_set": [],
    }


# third_party_applications ------------------------------------------------


@_documented(
    TAG_APPS,
    "List the applications of a namespace",
    d.ok(200, s.ListResponseSchema),
    400,
    404,
    *AUTH_ERRORS,
)
@match_info_schema(s.NamespacePathSchema)
@querystring_schema(s.ListQuerySchema)
async def list_applications(request: web.Request) -> web.Response:
    ns = request["match_info"]["namespace"]
    await _authorize(request, ns, write=False, namespace_must_exist=True)
    with_spec = "report_fields" in request["querystring"]
    found = await request.app[APPLICATIONS].all(ns)
    return json_response({"items": [_list_item(d, with_spec) for d in found], "errors": []})


@_documented(
    TAG_APPS,
    "Create an application",
    d.ok(200, s.AppCreateResponseSchema, "Created"),
    400,
    404,
    409,
    413,
    *AUTH_ERRORS,
)
@match_info_schema(s.NamespacePathSchema)
@request_schema(s.AppRequestSchema, required=True)
async def create_application(request: web.Request) -> web.Response:
    ns = request["match_info"]["namespace"]
    body = request["data"]
    meta = body["metadata"]
    _check_metadata_namespace(meta, ns)
    principal = await _authorize(request, ns, write=True, namespace_must_exist=True)
    now = _now(request)
    doc = {
        "metadata": _metadata(meta, ns),
        "spec": body["spec"],
        "system_metadata": {
            "uid": str(uuid.uuid4()),
            "tenant": TENANT,
            "creation_timestamp": now,
            "modification_timestamp": now,
            "creator_class": CREATOR_CLASS,
            "creator_id": principal.name,
        },
    }
    await request.app[APPLICATIONS].create(ns, meta["name"], doc, disabled=meta["disable"])
    return json_response(
        {
            "metadata": doc["metadata"],
            "system_metadata": doc["system_metadata"],
            "spec": doc["spec"],
        }
    )


@_documented(
    TAG_APPS, "Get an application", d.ok(200, s.AppGetResponseSchema), 400, 404, *AUTH_ERRORS
)
@match_info_schema(s.AppPathSchema)
@querystring_schema(s.GetQuerySchema)
async def get_application(request: web.Request) -> web.Response:
    ns, name = request["match_info"]["namespace"], request["match_info"]["name"]
    await _authorize(request, ns, write=False)
    doc = await request.app[APPLICATIONS].get(ns, name)
    if doc is None:
        raise NotFound("application not found")
    return json_response(_get_response(doc, request["querystring"]["response_format"]))


@_documented(
    TAG_APPS,
    "Replace an application (disabling it revokes its tokens)",
    d.ok(200, s.EmptySchema, "Replaced"),
    400,
    404,
    409,
    413,
    *AUTH_ERRORS,
)
@match_info_schema(s.AppPathSchema)
@request_schema(s.AppRequestSchema, required=True)
async def replace_application(request: web.Request) -> web.Response:
    ns, name = request["match_info"]["namespace"], request["match_info"]["name"]
    body = request["data"]
    meta = body["metadata"]
    if meta["name"] != name:
        raise BadValue("metadata", reason="metadata.name must match the name in the path")
    _check_metadata_namespace(meta, ns)
    await _authorize(request, ns, write=True)
    apps = request.app[APPLICATIONS]
    old = await apps.get(ns, name)
    if old is None:
        raise NotFound("application not found")
    # Identity and creation stay; only the modification time moves.
    system = {**old["system_metadata"], "modification_timestamp": _now(request)}
    doc = {"metadata": _metadata(meta, ns), "spec": body["spec"], "system_metadata": system}
    await apps.replace(ns, name, doc, disabled=meta["disable"])
    return json_response({})


@_documented(
    TAG_APPS,
    "Delete an application and every token it issued",
    d.ok(200, s.EmptySchema, "Deleted"),
    400,
    404,
    413,
    *AUTH_ERRORS,
)
@match_info_schema(s.AppPathSchema)
@request_schema(s.DeleteRequestSchema)
async def delete_application(request: web.Request) -> web.Response:
    ns, name = request["match_info"]["namespace"], request["match_info"]["name"]
    body = request["data"]
    if body.get("name", name) != name or body.get("namespace", ns) not in ("", ns):
        raise BadValue("name", reason="name and namespace in the body must match the path")
    await _authorize(request, ns, write=True)
    await request.app[APPLICATIONS].delete(ns, name)
    return json_response({})


@_documented(
    TAG_APPS,
    "Generate an AuthToken for the application (rate-limited)",
    d.ok(200, s.GenerateTokenResponseSchema, "A new token", d.RATE_LIMIT_HEADERS),
    400,
    404,
    409,
    429,
    *AUTH_ERRORS,
    description="Editors and admins only (viewers get 403); 409 when the application is "
    "disabled. Counts against `generate_token` (per user, across every application and "
    "namespace) and `generate_token_app` (per application); RateLimit headers show the "
    "tighter. Removing or changing the caller's role binding revokes the tokens they "
    "generated in the namespace. " + d.INHERITED,
)
@match_info_schema(s.AppPathSchema)
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


# Namespaces and role bindings (admin) ------------------------------------


def _namespace_doc(name: str, record: dict[str, str]) -> dict[str, Any]:
    created = int(record.get("created", 0))
    # Derived, not stored: stable for one namespace, new when it is re-created.
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"namespace:{name}:{created}"))
    when = timestamp(created)
    return {
        "metadata": {
            "name": name,
            "namespace": "",
            "labels": {},
            "annotations": {},
            "description": "",
            "disable": False,
        },
        "system_metadata": {
            "uid": uid,
            "tenant": TENANT,
            "creation_timestamp": when,
            "modification_timestamp": when,
            "creator_class": CREATOR_CLASS,
            "creator_id": "",
        },
        "spec": {},
    }


@_documented(TAG_ADMIN, "List namespaces", d.ok(200, s.ListResponseSchema), *AUTH_ERRORS)
async def list_namespaces(request: web.Request) -> web.Response:
    await _admin(request)
    namespaces = request.app[NAMESPACE_REPOSITORY]
    items = []
    for name in await namespaces.names():
        record = await namespaces.get(name)
        if record is not None:
            items.append(_list_item(_namespace_doc(name, record), False))
    return json_response({"items": items, "errors": []})


@_documented(
    TAG_ADMIN,
    "Create a namespace",
    d.ok(200, s.NamespaceResponseSchema, "Created"),
    400,
    409,
    413,
    *AUTH_ERRORS,
)
@request_schema(s.NamespaceRequestSchema, required=True)
async def create_namespace(request: web.Request) -> web.Response:
    name = request["data"]["metadata"]["name"]
    principal = await _admin(request)
    namespaces = request.app[NAMESPACE_REPOSITORY]
    await namespaces.create(name)
    doc = _namespace_doc(name, await namespaces.get(name) or {})
    doc["system_metadata"]["creator_id"] = principal.name
    return json_response(doc)


@_documented(
    TAG_ADMIN, "Get a namespace", d.ok(200, s.NamespaceResponseSchema), 400, 404, *AUTH_ERRORS
)
@match_info_schema(s.NamePathSchema)
async def get_namespace(request: web.Request) -> web.Response:
    name = request["match_info"]["name"]
    await _admin(request)
    record = await request.app[NAMESPACE_REPOSITORY].get(name)
    if record is None:
        raise NotFound("namespace not found")
    return json_response(_namespace_doc(name, record))


@_documented(
    TAG_ADMIN,
    "Delete a namespace, its applications (and their tokens) and role bindings",
    d.ok(200, s.EmptySchema, "Deleted"),
    400,
    404,
    *AUTH_ERRORS,
)
@match_info_schema(s.NamePathSchema)
async def delete_namespace(request: web.Request) -> web.Response:
    name = request["match_info"]["name"]
    await _admin(request)
    await request.app[NAMESPACE_REPOSITORY].delete(name)
    return json_response({})


@_documented(
    TAG_ADMIN,
    "List the role bindings of a namespace",
    d.ok(200, s.RoleBindingListSchema),
    400,
    404,
    *AUTH_ERRORS,
)
@match_info_schema(s.NamePathSchema)
async def list_role_bindings(request: web.Request) -> web.Response:
    name = request["match_info"]["name"]
    await _admin(request)
    namespaces, users = request.app[NAMESPACE_REPOSITORY], request.app[USERS]
    if not await namespaces.exists(name):
        raise NotFound("namespace not found")
    items = []
    for uid, role in (await namespaces.roles(name)).items():
        user = await users.get(uid)
        if user is not None:
            items.append({"user": user.name, "role": role})
    items.sort(key=lambda b: b["user"])
    return json_response({"items": items})


async def _user_id(request: web.Request, username: str) -> str:
    uid = await request.app[USERS].id_of(username)
    if uid is None:
        raise NotFound("user not found")
    return uid


@_documented(
    TAG_ADMIN,
    "Give a user (by username) a role in a namespace",
    d.ok(200, s.EmptySchema, "Granted"),
    400,
    404,
    413,
    *AUTH_ERRORS,
)
@match_info_schema(s.RoleBindingPathSchema)
@request_schema(s.RoleBindingRequestSchema, required=True)
async def put_role_binding(request: web.Request) -> web.Response:
    name, username = request["match_info"]["name"], request["match_info"]["user"]
    await _admin(request)
    uid = await _user_id(request, username)
    await request.app[NAMESPACE_REPOSITORY].grant(name, uid, request["data"]["role"])
    return json_response({})


@_documented(
    TAG_ADMIN,
    "Remove a user's role in a namespace",
    d.ok(200, s.EmptySchema, "Removed"),
    400,
    404,
    *AUTH_ERRORS,
)
@match_info_schema(s.RoleBindingPathSchema)
async def delete_role_binding(request: web.Request) -> web.Response:
    name, username = request["match_info"]["name"], request["match_info"]["user"]
    await _admin(request)
    uid = await _user_id(request, username)
    await request.app[NAMESPACE_REPOSITORY].revoke_role(name, uid)
    return json_response({})


def setup_routes(app: web.Application) -> None:
    """Register the routes."""
    r = app.router
    # First of the routes under the namespaces prefix, which aiohttp tries in
    # the order they were added: the hot route matches at the first attempt.
    # No HEAD: it would mint (and count) a token whose body nobody reads.
    r.add_get(APPS + "/{name}/generate_token", generate_token, allow_head=False)
    r.add_get(APPS, list_applications)
    r.add_post(APPS, create_application)
    r.add_get(APPS + "/{name}", get_application)
    r.add_put(APPS + "/{name}", replace_application)
    r.add_delete(APPS + "/{name}", delete_application)
    r.add_get(NAMESPACES, list_namespaces)
    r.add_post(NAMESPACES, create_namespace)
    r.add_get(NAMESPACES + "/{name}", get_namespace)
    r.add_delete(NAMESPACES + "/{name}", delete_namespace)
    r.add_get(NAMESPACES + "/{name}/role_bindings", list_role_bindings)
    r.add_put(NAMESPACES + "/{name}/role_bindings/{user}", put_role_binding)
    r.add_delete(NAMESPACES + "/{name}/role_bindings/{user}", delete_role_binding)
