"""The F5 Distributed Cloud dialect: third_party_application objects, namespaces and role bindings.

Callers authenticate with `Authorization: APIToken <access token>` (Bearer is
accepted too). A global admin may do everything; in a namespace an `editor`
manages applications and generates their tokens, a `viewer` lists and reads.
A caller without a binding gets 403 whether or not the namespace exists, so
namespace names do not leak. Errors are JSON strings (see web/dialects.py).

`apps`: the applications and their tokens; `namespaces`: namespaces and role
bindings (admins); `shared`: docs, timestamps, list items.
"""

from __future__ import annotations

from aiohttp import web

from .apps import (
    APPS,
    create_application,
    delete_application,
    generate_token,
    get_application,
    list_applications,
    replace_application,
)
from .namespaces import (
    NAMESPACES,
    create_namespace,
    delete_namespace,
    delete_role_binding,
    get_namespace,
    list_namespaces,
    list_role_bindings,
    put_role_binding,
)


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
