"""aiohttp still answers unparsable requests through RequestHandler.handle_error, and the
adapter keeps those answers from quoting the request (credentials included) back."""

from __future__ import annotations

import asyncio
import inspect
from importlib import metadata
from typing import Any

import pytest
from aiohttp import web, web_protocol

from service import settings as settings_mod
from service.adapters.aiohttp_server import answer_parse_errors_with_reason_only, reason_only
from service.app import create_app

VERSION = "aiohttp " + metadata.version("aiohttp")
UPDATE = "update service.adapters.aiohttp_server"
SECRET = "SECRET-TOKEN-4f2a9c"
MALFORMED = [
    f"Authorization: Bearer {SECRET}\x01x",  # a control character in a value
    f"Authorization Bearer {SECRET}",  # no colon
    f"X-Auth-Token : {SECRET}",  # a space before the colon
]


async def _raw(port: int, header: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header.encode() + b"\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def test_handle_error_keeps_its_signature() -> None:
    handle_error = getattr(web_protocol.RequestHandler, "handle_error", None)
    assert handle_error is not None, f"{VERSION}: RequestHandler.handle_error is gone: {UPDATE}"
    make = getattr(web_protocol.RequestHandler, "_make_error_handler", None)
    assert make is not None, f"{VERSION}: RequestHandler._make_error_handler is gone: {UPDATE}"
    assert "self.handle_error(" in inspect.getsource(make), (
        f"{VERSION} no longer answers parse errors through handle_error: {UPDATE}"
    )
    original = inspect.signature(handle_error)
    names = list(original.parameters)
    assert names[:5] == ["self", "request", "status", "exc", "message"], (
        f"{VERSION}: handle_error's parameters are now {names}: {UPDATE}"
    )


def test_the_reason_phrase_of_a_status() -> None:
    assert reason_only(400) == "Bad Request"
    assert reason_only(431) == "Request Header Fields Too Large"
    assert reason_only(599) == "Error"


@pytest.mark.parametrize("header", MALFORMED)
async def test_a_malformed_header_is_not_echoed(aiohttp_server: Any, header: str) -> None:
    settings = settings_mod.load(environ={}).replace(redis__url="memory://")
    app = create_app(settings)  # installs the adapter, as `token-service serve` does
    server = await aiohttp_server(app)
    reply = await _raw(server.port, header)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400") or head.startswith(b"HTTP/1.1 400"), reply
    assert SECRET.encode() not in reply, (
        f"{VERSION} echoes a malformed header back despite the adapter: {UPDATE}"
    )
    assert body == b"Bad Request", reply


async def test_installing_twice_wraps_once(aiohttp_server: Any) -> None:
    answer_parse_errors_with_reason_only()
    first = web_protocol.RequestHandler.handle_error
    answer_parse_errors_with_reason_only()
    assert web_protocol.RequestHandler.handle_error is first
    app = web.Application()
    server = await aiohttp_server(app)
    assert SECRET.encode() not in await _raw(server.port, MALFORMED[0])
