"""Request bodies validated by aiohttp-apispec (webargs), failures raised as domain errors.

webargs would answer 422 with its own body; here a failure becomes
`MissingValue` / `BadValue` naming the key, which each dialect renders its way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from marshmallow import Schema, ValidationError, fields

from service.errors import BadValue, MalformedRequest, MissingValue

_MISSING = "Missing data for required field."

_KINDS: tuple[tuple[type[fields.Field[Any]], str], ...] = (
    (fields.Boolean, "boolean"),
    (fields.Integer, "integer"),
    (fields.String, "string"),
    (fields.List, "listOfStrings"),
    (fields.Dict, "json"),
    (fields.Nested, "json"),
    (fields.Raw, "json"),
)


def _first_error(messages: Any, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...], list[str]]:
    if isinstance(messages, Mapping):
        for key in sorted(messages, key=str):
            return _first_error(messages[key], (*path, str(key)))
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return path, list(messages)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], path)
    return path, [str(messages)]


def field_kind(schema: Schema, name: str) -> str:
    field = schema.fields.get(name)
    if field is None:
        return "string"
    custom = field.metadata.get("error_kind")
    if isinstance(custom, str):
        return custom
    for cls, kind in _KINDS:
        if isinstance(field, cls):
            return kind
    return "string"


def raise_validation_error(error: ValidationError, schema: Schema) -> NoReturn:
    """Turn a marshmallow error into the domain error for its first bad key."""
    path, msgs = _first_error(error.messages)
    # webargs nests messages under the location ("json", "query", ...).
    if path and path[0] in {"json", "query", "querystring", "match_info", "form", "headers"}:
        path = path[1:]
    if not path or path[0] == "_schema":
        raise MalformedRequest("the body must be a JSON object") from error
    key = path[0]
    # The reason names the nested key (metadata.name) for dialects that show it.
    where = ".".join(p for p in path if p != "_schema")
    if _MISSING in msgs:
        missing = MissingValue(key)
        missing.reason = f"missing required value {where}"
        raise missing from error
    raise BadValue(key, field_kind(schema, key), f"{where}: {msgs[0]}" if msgs else "") from error


def error_callback(
    error: ValidationError,
    req: Any,
    schema: Schema,
    error_status_code: int | None = None,
    error_headers: Mapping[str, str] | None = None,
) -> NoReturn:
    """aiohttp-apispec's hook: raise the domain error instead of webargs' 422."""
    raise_validation_error(error, schema)
