"""Request bodies validated against the routes' marshmallow schemas, failures raised as domain errors.

webargs would answer 422 with its own body; here a failure becomes
`MissingValue` / `BadValue` naming the key, which each dialect renders its way.
JSON bodies skip webargs (`JsonBodies`): the same rules, less work.
`RouteValidation` runs a route's schemas before its handler, with the outcome
of aiohttp-apispec's validation middleware (see service.adapters.apispec).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn

import orjson
from aiohttp import web
from aiohttp.http import HttpProcessingError
from marshmallow import Schema, ValidationError, fields
from webargs.core import is_json

from service.adapters import apispec
from service.appkeys import SETTINGS
from service.errors import BadValue, MalformedRequest, MissingValue
from service.lru import BoundedLRU

_MISSING = "Missing data for required field."
_REMEMBERED_BODIES = 2048
_REMEMBERED_BODY_SIZE = 1024
_REMEMBERED_PATHS = 4096
_SCALARS = frozenset({str, int, bool, type(None)})
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
# Bounds on a JSON body, checked before the standard library decodes it: deeper
# nesting exhausts its recursion (RecursionError), a longer integer its
# int-string conversion (ValueError beyond 4,300 digits); orjson writes no
# more than 254 levels back out. Nothing this service reads needs more.
MAX_JSON_DEPTH = 32
MAX_INTEGER_DIGITS = 64
# A string, or an unterminated one up to the end: matching never restarts inside it.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}

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


class _IntegerTooLong(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _IntegerTooLong
    return int(text)


def _nesting(raw: bytes) -> int:
    """How deeply arrays and objects nest in `raw`, brackets inside strings not counted."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets), initial=0))


def _decode_json(raw: bytes, charset: str | None) -> Any:
    """The JSON value of a body, within the bounds; MalformedRequest for anything else."""
    utf8 = charset is None or charset.lower() in {"utf-8", "utf8"}
    text: bytes | str = raw
    if not utf8:
        assert charset is not None
        try:
            text = raw.decode(charset)
        except LookupError:
            raise web.HTTPUnsupportedMediaType(text=f"unknown charset {charset}") from None
        except UnicodeDecodeError as e:
            raise MalformedRequest("the body is not valid JSON") from e
        raw = text.encode()
    # Fewer brackets than the bound cannot nest beyond it: counting is cheap, scanning is not.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _nesting(raw) > MAX_JSON_DEPTH:
        raise MalformedRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    # orjson reads an integer beyond 64 bits as a float; the standard library keeps it exact.
    if utf8 and not _LONG_DIGITS.search(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, as it did before (NaN, lone surrogates...)
    try:
        if utf8:
            text = raw.decode("utf-8")
        return json.loads(text, parse_int=_bounded_int)
    except _IntegerTooLong:
        raise MalformedRequest(
            f"the body holds an integer of more than {MAX_INTEGER_DIGITS} digits"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MalformedRequest("the body is not valid JSON") from e


def _json_tree(value: Any) -> bool:
    """Whether `value` is made only of what a JSON document decodes to (finite floats)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return all(type(k) is str and _json_tree(v) for k, v in value.items())
    if kind is list:
        return all(_json_tree(v) for v in value)
    return False


def _remembered_form(loaded: Any) -> bytes | None:
    """The loaded body as JSON that decodes back to an equal value, or None if there is none."""
    if type(loaded) is not dict or not _json_tree(loaded):
        return None
    try:
        return orjson.dumps(loaded)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate
        return None


class JsonBodies:
    """Loads JSON request bodies by the route's schema, with webargs' rules (no JSON body
    counts as `{}`), remembering small ones.

    Loading is a pure function of the schema and the bytes, and the same small
    bodies come again and again (a service verifying its callers' tokens, a
    client asking for temporary tokens with the same caveats), so a body whose
    loaded value is plain JSON data is remembered by its bytes, as JSON: each
    request gets its own fresh copy by decoding it again, which costs a
    fraction of the schema's work.
    """

    def __init__(self, size: int = _REMEMBERED_BODIES) -> None:
        # Keyed by what clients send: LRU, so a flood evicts only the oldest.
        self._loaded: BoundedLRU[tuple[int, str | None, bytes], bytes] = BoundedLRU(size)

    async def load(self, request: web.Request, schema: Schema) -> Any:
        raw = b""
        if request.body_exists and is_json(request.content_type):
            raw = await (
                request.read() if request.content.is_eof() else self._read_in_time(request)
            )
        key = None
        if len(raw) <= _REMEMBERED_BODY_SIZE:
            key = (id(schema), request.charset, raw)
            known = self._loaded.get(key)
            if known is not None:
                return orjson.loads(known)  # a copy: handlers own their data
        data = _decode_json(raw, request.charset) if raw else {}
        try:
            loaded = schema.load(data)
        except ValidationError as e:
            raise_validation_error(e, schema)
        if key is not None:
            remembered = _remembered_form(loaded)
            if remembered is not None:
                self._loaded.put(key, remembered)
        return loaded

    @staticmethod
    async def _read_in_time(request: web.Request) -> bytes:
        """A body still on its way: 408 unless it is complete within `server.body_timeout`."""
        timeout = request.app[SETTINGS].server.body_timeout
        try:
            async with asyncio.timeout(timeout):
                return await request.read()
        except TimeoutError:
            raise web.HTTPRequestTimeout() from None
        except (web.RequestPayloadError, HttpProcessingError, ConnectionError) as e:
            # Broken chunked framing; a client gone before its Content-Length was sent.
            raise MalformedRequest("the body could not be read") from e


def frozen_path_parameters(loaded: Any) -> MappingProxyType[str, Any] | None:
    """`loaded` as a read-only mapping if it is a dict of immutable scalars, else None.

    Only such a value may be handed to several requests: no handler can
    change what another request reads.
    """
    if type(loaded) is not dict or not all(type(v) in _FROZEN for v in loaded.values()):
        return None
    return MappingProxyType(loaded)


_FROZEN = frozenset({str, int, float, bool, type(None)})


class RouteValidation:
    """One route's request schemas, applied before its handler as aiohttp-apispec would.

    Each schema's data goes under its `put_into` request key, the others are
    merged under the app's request data name. Path parameters that loaded once
    load the same again, so their value is remembered per (schema, values) as
    a read-only mapping (`frozen_path_parameters`) shared by the requests that
    send them; JSON bodies go through `JsonBodies`, which gives each request a
    copy of its own.
    """

    __slots__ = ("_bodies", "_data_name", "_parser", "_paths", "_schemas")

    def __init__(
        self,
        schemas: tuple[apispec.RequestSchema, ...],
        app: web.Application,
        bodies: JsonBodies,
        paths: BoundedLRU[tuple[int, tuple[tuple[str, str], ...]], Any],
    ) -> None:
        self._schemas = schemas
        self._parser = apispec.parser_of(app)
        self._data_name = apispec.data_name_of(app)
        self._bodies = bodies
        self._paths = paths

    async def apply(self, request: web.Request) -> None:
        """Load the request's parts by the route's schemas, or raise the domain error."""
        result: Any = {}
        for declared in self._schemas:
            location, schema = declared.part, declared.schema
            if location == "match_info":
                key = (id(schema), tuple(request.match_info.items()))
                data = self._paths.get(key)
                if data is None:
                    data = await self._parser.parse(
                        schema, request, location=location, unknown=None
                    )
                    frozen = frozen_path_parameters(data)
                    if frozen is not None:
                        data = frozen
                        self._paths.put(key, frozen)
            elif location == "json":
                data = await self._bodies.load(request, schema)
            else:
                data = await self._parser.parse(schema, request, location=location, unknown=None)
            if declared.put_into:
                request[declared.put_into] = data
            elif data:
                try:
                    result.update(data)
                except (ValueError, TypeError):
                    result = data
                    break
        request[self._data_name] = result


class Validations:
    """The `RouteValidation` of each route, and the caches the routes share."""

    def __init__(self) -> None:
        self._bodies = JsonBodies()
        self._paths: BoundedLRU[tuple[int, tuple[tuple[str, str], ...]], Any] = BoundedLRU(
            _REMEMBERED_PATHS
        )

    def for_handler(self, app: web.Application, handler: Any) -> RouteValidation | None:
        """The validation of a route served by `handler`; None when it declares no schema."""
        schemas = apispec.request_schemas(handler)
        if not schemas:
            return None
        return RouteValidation(schemas, app, self._bodies, self._paths)
