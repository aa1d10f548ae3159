"""F5 namespaces and their role bindings: the admin's routes under /api/web/namespaces.

A namespace holds applications; a role binding gives a user `editor` or
`viewer` in it. Only global admins manage them.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from aiohttp_apispec import match_info_schema, request_schema

from service.appkeys import NAMESPACES as NAMESPACE_REPOSITORY
from service.appkeys import USERS
from service.errors import Forbidden, NotFound
from service.web.auth import Principal, authenticate
from service.web.responses import json_response

from .. import docs
from .. import f5xc_schemas as schemas
from .shared import (
    AUTH_ERRORS,
    CREATOR_CLASS,
    PATH_ERRORS,
    TENANT,
    documented,
    list_item,
    timestamp,
)

NAMESPACES = "/api/web/namespaces"
TAG_ADMIN = "F5 XC namespaces (admin)"


async def authenticate_admin(request: web.Request) -> Principal:
    """The caller, if a global admin; `forbidden` for anyone else."""
    principal = await authenticate(request, allow_basic=False)
    if not principal.admin:
        raise Forbidden("no permission")
    return principal


def namespace_doc(name: str, record: dict[str, str]) -> dict[str, Any]:
    """A namespace as an F5 object, from its record."""
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


@documented(TAG_ADMIN, "List namespaces", docs.ok(200, schemas.ListResponseSchema), AUTH_ERRORS)
async def list_namespaces(request: web.Request) -> web.Response:
    await authenticate_admin(request)
    namespaces = request.app[NAMESPACE_REPOSITORY]
    items = []
    for name in await namespaces.names():
        record = await namespaces.get(name)
        if record is not None:
            items.append(list_item(namespace_doc(name, record), False))
    return json_response({"items": items, "errors": []})


@documented(
    TAG_ADMIN,
    "Create a namespace",
    docs.ok(200, schemas.NamespaceResponseSchema, "Created"),
    (400, 409, 413, *AUTH_ERRORS),
)
@request_schema(schemas.NamespaceRequestSchema, required=True)
async def create_namespace(request: web.Request) -> web.Response:
    name = request["data"]["metadata"]["name"]
    principal = await authenticate_admin(request)
    namespaces = request.app[NAMESPACE_REPOSITORY]
    await namespaces.create(name)
    doc = namespace_doc(name, await namespaces.get(name) or {})
    doc["system_metadata"]["creator_id"] = principal.name
    return json_response(doc)


@documented(
    TAG_ADMIN, "Get a namespace", docs.ok(200, schemas.NamespaceResponseSchema), PATH_ERRORS
)
@match_info_schema(schemas.NamePathSchema)
async def get_namespace(request: web.Request) -> web.Response:
    name = request["match_info"]["name"]
    await authenticate_admin(request)
    record = await request.app[NAMESPACE_REPOSITORY].get(name)
    if record is None:
        raise NotFound("namespace not found")
    return json_response(namespace_doc(name, record))


@documented(
    TAG_ADMIN,
    "Delete a namespace, its applications (and their tokens) and role bindings",
    docs.ok(200, schemas.EmptySchema, "Deleted"),
    PATH_ERRORS,
)
@match_info_schema(schemas.NamePathSchema)
async def delete_namespace(request: web.Request) -> web.Response:
    name = request["match_info"]["name"]
    await authenticate_admin(request)
    await request.app[NAMESPACE_REPOSITORY].delete(name)
    return json_response({})


@documented(
    TAG_ADMIN,
    "List the role bindings of a namespace",
    docs.ok(200, schemas.RoleBindingListSchema),
    PATH_ERRORS,
)
@match_info_schema(schemas.NamePathSchema)
async def list_role_bindings(request: web.Request) -> web.Response:
    name = request["match_info"]["name"]
    await authenticate_admin(request)
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


async def role_binding_target(request: web.Request) -> tuple[str, str]:
    """The namespace `{name}` and the id of the user `{user}` of a role-binding route, for an admin."""
    name, username = request["match_info"]["name"], request["match_info"]["user"]
    await authenticate_admin(request)
    uid = await request.app[USERS].id_of(username)
    if uid is None:
        raise NotFound("user not found")
    return name, uid


@documented(
    TAG_ADMIN,
    "Give a user (by username) a role in a namespace",
    docs.ok(200, schemas.EmptySchema, "Granted"),
    (413, *PATH_ERRORS),
)
@match_info_schema(schemas.RoleBindingPathSchema)
@request_schema(schemas.RoleBindingRequestSchema, required=True)
async def put_role_binding(request: web.Request) -> web.Response:
    name, uid = await role_binding_target(request)
    await request.app[NAMESPACE_REPOSITORY].grant(name, uid, request["data"]["role"])
    return json_response({})


@documented(
    TAG_ADMIN,
    "Remove a user's role in a namespace",
    docs.ok(200, schemas.EmptySchema, "Removed"),
    PATH_ERRORS,
)
@match_info_schema(schemas.RoleBindingPathSchema)
async def delete_role_binding(request: web.Request) -> web.Response:
    name, uid = await role_binding_target(request)
    await request.app[NAMESPACE_REPOSITORY].revoke_role(name, uid)
    return json_response({})
