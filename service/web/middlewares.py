"""Middlewares: errors rendered per dialect, deprecation headers, request ids and access logs.

All of it is one middleware, `Edge`; see its docstring.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from email.utils import format_datetime
from typing import Any

from aiohttp import web
from aiohttp_remotes.exceptions import RemoteError

from service import errors as e
from service.appkeys import STATE, RequestState
from service.metrics import DEPRECATED_REQUESTS, RATE_LIMITED, REQUEST_LATENCY, REQUESTS, TALLY
from service.settings import Deprecation
from service.tokens import errors as te

from .dialects import f5_error, onezone_error, retry_after_seconds
from .forwarded import AUTH_CHECK_PREFIX, TrustedProxies
from .ratelimit import set_rate_limit_headers
from .responses import json_response
from .validation import JsonBodies

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
        response = json_response(body, status=status)
    elif dialect == "f5":
        status, message = f5_error(err)
        response = json_response(message, status=status)
    else:
        status, body = onezone_error(err)
        if isinstance(err, e.Unauthorized | te.TokenError | e.TokenRejected):
            status = 401
        response = json_response(body, status=status)
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


def render_exception(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The response for whatever a handler raised (HTTP redirects aside: the edge re-raises them)."""
    if isinstance(exc, e.ServiceError | te.TokenError):
        return render_error(request, exc)
    if isinstance(exc, web.HTTPException):
        domain = _http_exception_as_domain(exc)
        if domain is not None:
            return render_error(request, domain)
        # 405, 413 and the like keep their status, with a body in the dialect.
        dialect = dialect_of(request.path)
        if dialect == "f5":
            response = json_response(exc.reason.lower(), status=exc.status)
        else:
            ident = {405: "notSupported", 413: "badMessage"}.get(exc.status, "badMessage")
            response = json_response(
                {"error": {"id": ident, "description": exc.reason + "."}}, status=exc.status
            )
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    # The route pattern, not the path: a path may carry a token
    # (DELETE /user/client_tokens/{token}).
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "(no route)"
    errlog.error("unhandled error on %s %s", request.method, route, exc_info=exc)
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

    def lookup(self, method: str, route: str) -> tuple[tuple[str, str], ...] | None:
        return self._headers.get((method, route))


class RouteInfo:
    """What the edge needs to know of one (route, method), worked out at its first request."""

    __slots__ = (
        "_method",
        "check",
        "deprecation",
        "deprecation_count",
        "latency",
        "route",
        "schemas",
        "statuses",
    )

    def __init__(self, route: str, method: str, handler: Any, table: DeprecationTable) -> None:
        self.route = route
        # /auth/check describes the proxied request itself, from its own trusted proxies.
        self.check = route == AUTH_CHECK_PREFIX or route.startswith(AUTH_CHECK_PREFIX + "/")
        self.deprecation = table.lookup(method, route)
        self.deprecation_count = (
            DEPRECATED_REQUESTS.labels(method, route) if self.deprecation else None
        )
        self.latency = REQUEST_LATENCY.labels(route)
        self._method = method
        # aiohttp-apispec's request schemas of the handler, validated before it runs.
        self.schemas: list[dict[str, Any]] = list(getattr(handler, "__schemas__", None) or ())
        self.statuses: dict[int, Any] = {}

    def requests(self, status: int) -> Any:
        """The request counter of this route and method for `status`."""
        child = self.statuses.get(status)
        if child is None:
            child = self.statuses[status] = REQUESTS.labels(self._method, self.route, str(status))
        return child


# A request id that the client did not send: unique per process, cheap to make.
_RID_PREFIX = os.urandom(8).hex()
_rid_counter = itertools.count(1)
_VALIDATED_CACHE_SIZE = 4096


class Edge:
    """The one middleware: request ids, access log and metrics, deprecation headers, trusted
    forwarding, request validation, and every error rendered in the route's dialect.

    One middleware rather than five: each layer costs a coroutine and a frame
    per request, which on the sidecar's path is a visible share of a request.
    Deprecation headers are added after the error renderer, so errors carry
    them too.

    Two sets of proxies: the API routes believe X-Forwarded-For/-Proto/-Host
    only from `server` (`server.trusted_proxies`), and then see the client's
    address as `request.remote`; `/auth/check` is told only whether its peer
    is one of `check` (`auth_check.trusted_proxies`) and reads the forwarding
    headers itself (service.api.authz), since they describe another request.
    """

    def __init__(
        self,
        table: DeprecationTable,
        server: TrustedProxies,
        check: TrustedProxies,
        shutting_down: list[bool],
    ) -> None:
        self._table = table
        self._trusted = server
        self._filtered = server.filtered
        self._check_trusted = check
        self._shutting_down = shutting_down
        self._routes: dict[tuple[Any, str], RouteInfo] = {}
        self._unmatched: dict[str, RouteInfo] = {}
        # Path parameters valid once are valid again: (schema, values) -> loaded.
        self._validated: dict[tuple[int, tuple[tuple[str, str], ...]], Any] = {}
        self._bodies = JsonBodies()

    def _info(self, request: web.Request) -> RouteInfo:
        route = request.match_info.route
        method = request.method
        info = self._routes.get((route, method))
        if info is not None:
            return info
        resource = route.resource
        if resource is None:  # 404 / 405: a new system route per request
            info = self._unmatched.get(method)
            if info is None:
                info = self._unmatched[method] = RouteInfo("unmatched", method, None, self._table)
            return info
        info = RouteInfo(resource.canonical, method, route.handler, self._table)
        self._routes[(route, method)] = info
        return info

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        info = self._info(request)
        rid = request.headers.get("X-Request-Id", "")
        if not rid or len(rid) > 128 or not rid.isprintable():
            rid = f"{_RID_PREFIX}{next(_rid_counter):016x}"
        state = request[STATE] = RequestState(rid)
        status = 500
        try:
            try:
                headers = request.headers
                if info.check:
                    state.trusted_proxy = self._check_trusted.trusts(request.remote)
                    response = await handler(request)
                elif (
                    self._filtered is not None
                    and self._trusted.trusts(request.remote)
                    and (
                        "X-Forwarded-For" in headers
                        or "X-Forwarded-Proto" in headers
                        or "X-Forwarded-Host" in headers
                    )
                ):
                    response = await self._forwarded(request, handler, info, state)
                else:
                    # No forwarding headers to check or apply (no trusted proxy, a
                    # probe): no aiohttp-remotes parsing, no clone, and no wrapper
                    # coroutine around the handler.
                    if info.schemas:
                        await self._validate(request, info.schemas)
                    response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    status = exc.status
                    self._decorate(exc.headers, rid, info)
                    raise
                response = render_exception(request, exc)
            except asyncio.CancelledError:
                # The client left and aiohttp cancelled the handler: nginx's
                # "client closed request", not a server error.
                status = 499
                raise
            except Exception as exc:
                response = render_exception(request, exc)
            status = response.status
            self._decorate(response.headers, rid, info)
            if self._shutting_down[0]:
                # While draining, no connection is kept alive for another request.
                response.force_close()
            return response
        finally:
            elapsed = time.perf_counter() - started
            TALLY.inc(info.requests(status))
            TALLY.observe(info.latency, elapsed)
            if info.deprecation_count is not None:
                TALLY.inc(info.deprecation_count)
            if log.isEnabledFor(logging.INFO):
                # A dict: the JSON formatter (service.logs) writes its fields into the line.
                line = {
                    "method": request.method,
                    "route": info.route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "request_id": rid,
                    "subject": state.subject,
                }
                if state.on_behalf_of is not None:
                    line["on_behalf_of"] = state.on_behalf_of
                log.info(line)

    @staticmethod
    def _decorate(headers: Any, rid: str, info: RouteInfo) -> None:
        headers["X-Request-Id"] = rid
        if info.deprecation is not None:
            for name, value in info.deprecation:
                headers[name] = value

    async def _forwarded(
        self, request: web.Request, handler: Handler, info: RouteInfo, state: RequestState
    ) -> web.StreamResponse:
        """A trusted proxy's API request with X-Forwarded-* headers: checked, then believed."""
        filtered = self._filtered
        assert filtered is not None
        try:
            filtered.get_forwarded_for(request.headers)
            filtered.get_forwarded_proto(request.headers)
            filtered.get_forwarded_host(request.headers)
        except (RemoteError, web.HTTPBadRequest):
            raise e.MalformedRequest("malformed forwarding headers") from None
        state.trusted_proxy = True
        # Without X-Forwarded-For this calls the handler with the request itself;
        # with it, with a clone that carries the client's address and scheme.
        return await filtered.middleware(
            request, functools.partial(self._run, handler=handler, info=info)
        )

    async def _run(
        self, request: web.Request, handler: Handler, info: RouteInfo
    ) -> web.StreamResponse:
        """The route's validation, then its handler."""
        if info.schemas:
            await self._validate(request, info.schemas)
        return await handler(request)

    async def _validate(self, request: web.Request, schemas: list[dict[str, Any]]) -> None:
        """aiohttp-apispec's validation, with valid path parameters remembered."""
        parser = request.app["_apispec_parser"]
        result: Any = {}
        for schema in schemas:
            location = schema["location"]
            if location == "match_info":
                key = (id(schema["schema"]), tuple(request.match_info.items()))
                data = self._validated.get(key)
                if data is None:
                    data = await parser.parse(
                        schema["schema"], request, location=location, unknown=None
                    )
                    if len(self._validated) >= _VALIDATED_CACHE_SIZE:
                        self._validated.clear()
                    self._validated[key] = data
            elif location == "json":
                data = await self._bodies.load(request, schema["schema"])
            else:
                data = await parser.parse(
                    schema["schema"], request, location=location, unknown=None
                )
            if schema["put_into"]:
                request[schema["put_into"]] = data
            elif data:
                try:
                    result.update(data)
                except (ValueError, TypeError):
                    result = data
                    break
        request[request.app["_apispec_request_data_name"]] = result
