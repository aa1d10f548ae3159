"""How aiohttp serves connections: timeouts from the settings, and no software versions sent.

This is the module that changes aiohttp beyond its keyword arguments (with
service.adapters.aiohttp_server, which it calls): `hide_server_software` replaces the `Server` value aiohttp puts on every
response it prepares (`web_response.SERVER_SOFTWARE`, "Python/3.x
aiohttp/3.y"), its own 400s for malformed requests included, which no
signal or middleware reaches. tests/test_serving.py fails if aiohttp stops
using that name. `hide_parser_errors` keeps aiohttp's own answers to
requests it cannot parse from quoting the request back.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web_response

from service.adapters.aiohttp_server import answer_parse_errors_with_reason_only
from service.settings import ServerSettings

# What `Server` says instead: the product, no versions (like nginx's `server_tokens off`).
SERVER_NAME = "token-service"


def hide_server_software() -> None:
    """Make every response aiohttp prepares say `Server: token-service`, without versions."""
    current = getattr(web_response, "SERVER_SOFTWARE", None)
    if not isinstance(current, str):
        raise RuntimeError(
            "aiohttp.web_response.SERVER_SOFTWARE is gone: update service.web.serving"
        )
    setattr(web_response, "SERVER_SOFTWARE", SERVER_NAME)  # noqa: B010 - not re-exported for mypy


def hide_parser_errors() -> None:
    """Make aiohttp's 400s for unparsable requests say "Bad Request", not the offending line."""
    answer_parse_errors_with_reason_only()


def handler_args(server: ServerSettings) -> dict[str, Any]:
    """aiohttp's per-connection settings (web.Application's `handler_args`)."""
    return {
        # aiohttp arms one timer when a connection opens and again after each
        # response, and closes the connection if no complete request head has
        # arrived when it fires: the bound on idle keep-alive connections and on
        # clients that send their headers slowly alike. (aiohttp's own default,
        # outside web.run_app, is an hour.)
        "keepalive_timeout": server.keepalive_timeout,
        # A body the handler did not read (a 413, a 408) is drained for this long
        # before the connection closes, so that the client reads the answer.
        "lingering_time": server.body_timeout,
        # The request log middleware logs route patterns, while aiohttp's access
        # log would log request lines, tokens in paths included.
        "access_log": None,
    }
