"""aiohttp-apispec's private names: where it keeps its parser and its routes' request schemas.

The edge validates requests itself (`service.web.validation.RouteValidation`)
with the same outcome as aiohttp-apispec's `validation_middleware`: the same
parser, the same schemas, the same request keys. What that needs of the
library is read here and nowhere else:

- `setup_aiohttp_apispec` keeps its webargs parser under the app key
  `_apispec_parser`, and the request key of the merged data (its
  `request_data_name`, "data" by default) under `_apispec_request_data_name`;
- the decorators (`request_schema`, `match_info_schema`, ...) leave on the
  handler a list `__schemas__` of `{"schema", "location", "put_into"}` dicts;
- the middleware stores each schema's data under `put_into` when it is set,
  and merges the others into one value under the data name;
- the package ships Swagger UI's files in its `static` folder.

tests/adapters/test_apispec_adapter.py fails with a message naming what
changed if aiohttp-apispec stops keeping any of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp_apispec
from aiohttp import web
from marshmallow import Schema

PARSER_KEY = "_apispec_parser"
"""The app key of aiohttp-apispec's webargs parser."""

DATA_NAME_KEY = "_apispec_request_data_name"
"""The app key of the request key that holds the merged request data."""

SCHEMAS_ATTRIBUTE = "__schemas__"
"""The handler attribute listing the request schemas its decorators declared."""

SWAGGER_UI_FILES = Path(aiohttp_apispec.__file__).parent / "static"
"""The folder of Swagger UI's files (CSS, scripts, icons) that aiohttp-apispec ships."""


@dataclass(frozen=True, slots=True)
class RequestSchema:
    """One request schema of a handler: what it loads, from where, and where the data goes."""

    schema: Schema
    part: str  # the part of the request it reads ("json", "match_info", ...)
    put_into: str | None


def request_schemas(handler: Any) -> tuple[RequestSchema, ...]:
    """The request schemas aiohttp-apispec's decorators declared on `handler`, in order."""
    declared = getattr(handler, SCHEMAS_ATTRIBUTE, None) or ()
    return tuple(RequestSchema(d["schema"], d["location"], d["put_into"]) for d in declared)


def parser_of(app: web.Application) -> Any:
    """The webargs parser `setup_aiohttp_apispec` configured (with its error callback)."""
    return app[PARSER_KEY]


def data_name_of(app: web.Application) -> str:
    """The request key under which the merged request data goes ("data" by default)."""
    name = app[DATA_NAME_KEY]
    assert isinstance(name, str)
    return name
