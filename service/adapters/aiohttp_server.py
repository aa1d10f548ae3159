"""aiohttp's server internals: the body of the answers it gives before the app sees a request.

aiohttp answers a request it cannot parse (a malformed header line, a bad
request line) itself, through `RequestHandler.handle_error(request, status,
exc, message)`, and sends `message` as the body: the parser's error text,
which quotes the offending header line, credentials included, back to
whoever sent it (and to any proxy logging responses). aiohttp offers no
public hook for these answers; `answer_parse_errors_with_reason_only`
replaces the method on the class so that such a body is only the status's
reason phrase ("Bad Request"). Internal errors (500) keep aiohttp's own
generic text.

tests/adapters/test_aiohttp_server_adapter.py fails with a message naming
what changed if aiohttp stops answering parse errors through this method.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web_protocol

_INSTALLED = "_token_service_reason_only"


def reason_only(status: int) -> str:
    """The body of aiohttp's own error answer with `status`: its reason phrase alone."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def answer_parse_errors_with_reason_only() -> None:
    """Make aiohttp's own error answers say only their reason phrase, never the parser's text."""
    handler_class: Any = web_protocol.RequestHandler
    original = getattr(handler_class, "handle_error", None)
    if original is None:
        raise RuntimeError(
            "aiohttp's RequestHandler.handle_error is gone: update service.adapters.aiohttp_server"
        )
    if getattr(original, _INSTALLED, False):
        return

    def handle_error(
        self: Any,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> Any:
        if status != HTTPStatus.INTERNAL_SERVER_ERROR:
            message = reason_only(status)
        return original(self, request, status, exc, message)

    setattr(handle_error, _INSTALLED, True)
    handler_class.handle_error = handle_error
