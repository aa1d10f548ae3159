"""JSON responses encoded with orjson; the standard library writes what orjson refuses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

JSON = "application/json"


def _encode(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        # What orjson refuses (an integer beyond 64 bits that a client sent and
        # gets echoed back, a lone surrogate) the standard library writes, as ASCII.
        return json.dumps(data, separators=(",", ":")).encode()


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A response with `data` as its JSON body (UTF-8, as RFC 8259 requires)."""
    all_headers = {"Content-Type": JSON}
    if headers:
        all_headers.update(headers)
    return web.Response(body=_encode(data), status=status, headers=all_headers)
