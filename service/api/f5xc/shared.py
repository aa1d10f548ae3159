"""What the F5 routes share: their docs, timestamps, and the items of a list response."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp_apispec

from .. import docs

# One tenant per deployment: F5's tenant is the customer account, which this
# service does not model.
TENANT = "default"
CREATOR_CLASS = "token-service"
# Every route: unusable token, no permission, store down or slow.
AUTH_ERRORS = (401, 403, 503, 504)
# Every route with a namespace in its path: a malformed path, an unknown namespace
# (or application), and AUTH_ERRORS.
PATH_ERRORS = (400, 404, *AUTH_ERRORS)


def documented(
    tag: str,
    summary: str,
    ok: dict[str, dict[str, Any]],
    errors: tuple[int, ...],
    *,
    description: str | None = None,
) -> Any:
    """aiohttp-apispec's `docs` with this dialect's security and JSON-string error bodies.

    `ok` is the success response, `errors` the status codes of the route's errors.
    """
    extra = {"description": description} if description else {}
    return aiohttp_apispec.docs(
        tags=[tag],
        summary=summary,
        security=docs.F5_SECURITY,
        responses={**ok, **docs.f5_errors(*sorted(errors))},
        **extra,
    )


def timestamp(unix: float) -> str:
    """RFC 3339 in UTC, fractional seconds only when there are some (as protobuf JSON does)."""
    dt = datetime.fromtimestamp(unix, UTC)
    frac = f".{dt.microsecond:06d}" if dt.microsecond else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def list_item(doc: dict[str, Any], with_spec: bool) -> dict[str, Any]:
    """An object (application or namespace) as an item of F5's list response."""
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
