"""Middlewares: errors rendered per dialect, deprecation headers, request ids and access logs.

Order (outermost first): request log -> deprecation -> errors -> validation.
Deprecation sits outside the error renderer so that errors carry its headers too.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from service import errors as e
from service.appkeys import REQUEST_ID, SUBJECT
from service.metrics import DEPRECATED_REQUESTS, RATE_LIMITED, REQUEST_LATENCY, REQUESTS
from service.settings import Deprecation
from service.tokens import errors as te

from .dialects import f5_error, onezone_error, retry_after_seconds
from .ratelimit import set_rate_limit_headers

log = logging.getLogger("service.access")
errlog = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ONEZONE_PREFIX = "/api/v3/onezone"
F5_PREFIXES = ("/api/config/", "/api/web/")


def dialect_of(path: str) -> str:
    if path.startswith(ONEZONE_PREFIX):
        return "onezone"
    if path.startswith(F5_PREFIXES):
        return "f5"
    return "plain"


def render_error(request: web.Request, err: BaseException) -> web.Response:
    """The dialect's response for a domain error (and the RateLimit headers of a 429)."""
    dialect = dialect_of(request.path)
    if dialect == "onezone":
        status, body = onezone_error(err)
        response = web.json_response(body, status=status)
    elif dialect == "f5":
        status, message = f5_error(err)
        response = web.json_response(message, status=status)
    else:
        status, body = onezone_error(err)
        if isinstance(err, e.Unauthorized | te.TokenError | e.TokenRejected):
            status = 401
        response = web.json_response(body, status=status)
    if isinstance(err, e.RateLimited):
        RATE_LIMITED.labels(err.result.policy).inc()
        response.headers["Retry-After"] = str(retry_after_seconds(err.result))
        set_rate_limit_headers(response, err.result)
    if status == 401 and dialect == "onezone" and isinstance(err, e.BadCredentials):
        response.headers["WWW-Authenticate"] = 'Basic realm="onezone"'
    return response


def _http_exception_as_domain(exc: web.HTTPException) -> BaseException | None:
    if exc.status == 404:
        return e.NotFound("not found")
    if exc.status == 400:
        # webargs refuses an unparsable JSON body with a JSON text of its own.
        if exc.content_type == "application/json":
            return e.MalformedRequest("the body is not valid JSON")
        return e.MalformedRequest(exc.text or "malformed request")
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure in the dialect of the route; never a traceback."""
    try:
        return await handler(request)
    except (e.ServiceError, te.TokenError) as err:
        return render_error(request, err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        domain = _http_exception_as_domain(exc)
        if domain is not None:
            return render_error(request, domain)
        # 405, 413 and the like keep their status, with a body in the dialect.
        dialect = dialect_of(request.path)
        if dialect == "f5":
            response = web.json_response(exc.reason.lower(), status=exc.status)
        else:
            ident = {405: "notSupported", 413: "badMessage"}.get(exc.status, "badMessage")
            response = web.json_response(
                {"error": {"id": ident, "description": exc.reason + "."}}, status=exc.status
            )
        for name in ("Allow",):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except asyncio.CancelledError:
        raise
    except Exception:
        # The route pattern, not the path: a path may carry a token
        # (DELETE /user/client_tokens/{token}).
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "(no route)"
        errlog.exception("unhandled error on %s %s", request.method, route)
        return render_error(request, RuntimeError("internal"))


class DeprecationTable:
    """Pre-rendered Deprecation / Sunset / Link headers per (method, route pattern)."""

    def __init__(self, entries: Iterable[Deprecation]) -> None:
        self._headers: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        for d in entries:
            link = f'<{d.successor}>; rel="successor-version", <{d.link}>; rel="deprecation"; type="text/html"'
            self._headers[(d.method, d.path)] = (
                ("Deprecation", f"@{int(d.deprecation.timestamp())}"),
                ("Sunset", format_datetime(d.sunset, usegmt=True)),
                ("Link", link),
            )

    def headers_for(self, request: web.Request) -> tuple[tuple[str, str], ...] | None:
        if not self._headers:
            return None
        resource = request.match_info.route.resource
        if resource is None:
            return None
        return self._headers.get((request.method, resource.canonical))


def deprecation_middleware(table: DeprecationTable) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = table.headers_for(request)
        if headers is None:
            return await handler(request)
        resource = request.match_info.route.resource
        DEPRECATED_REQUESTS.labels(request.method, resource.canonical if resource else "").inc()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            for name, value in headers:
                exc.headers[name] = value
            raise
        for name, value in headers:
            response.headers[name] = value
        return response

    return middleware


@functools.lru_cache(maxsize=4096)
def _request_metrics(method: str, route: str, status: int) -> Any:
    return REQUESTS.labels(method, route, str(status))


@functools.lru_cache(maxsize=1024)
def _latency_metric(route: str) -> Any:
    return REQUEST_LATENCY.labels(route)


@web.middleware
async def request_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One JSON line per request, with a request id honoured or generated and echoed."""
    started = time.perf_counter()
    rid = request.headers.get("X-Request-Id", "")
    if not rid or len(rid) > 128 or not rid.isprintable():
        rid = os.urandom(16).hex()
    request[REQUEST_ID] = rid
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        elapsed = time.perf_counter() - started
        resource = request.match_info.route.resource if request.match_info.route else None
        route = resource.canonical if resource else "unmatched"
        _request_metrics(request.method, route, status).inc()
        _latency_metric(route).observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(
                json.dumps(
                    {
                        "method": request.method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "request_id": rid,
                        "subject": request.get(SUBJECT),
                    },
                    separators=(",", ":"),
                )
            )
