"""The edge: request ids, access logs and metrics, deprecation headers, validation, errors.

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

from aiohttp import hdrs, web
from aiohttp_remotes.exceptions import RemoteError

from service import errors as e
from service.appkeys import STATE, RequestState
from service.metrics import DEPRECATED_REQUESTS, REQUEST_LATENCY, REQUESTS, TALLY
from service.paths import AUTH_CHECK_PATH
from service.settings import Deprecation

from .dialects import Dialect, dialect_of_path
from .forwarded import TrustedProxies
from .rendering import render_exception
from .validation import RouteValidation, Validations

log = logging.getLogger("service.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        "dialect",
        "latency",
        "route",
        "statuses",
        "validation",
    )

    def __init__(
        self,
        route: str,
        method: str,
        dialect: Dialect | None,
        validation: RouteValidation | None,
        table: DeprecationTable,
    ) -> None:
        self.route = route
        # None for unmatched requests: their path decides (`dialect_of_path`).
        self.dialect = dialect
        # /auth/check describes the proxied request itself, from its own trusted proxies.
        self.check = route == AUTH_CHECK_PATH or route.startswith(AUTH_CHECK_PATH + "/")
        self.validation = validation
        self.deprecation = table.lookup(method, route)
        self.deprecation_count = (
            DEPRECATED_REQUESTS.labels(method, route) if self.deprecation else None
        )
        self.latency = REQUEST_LATENCY.labels(route)
        self._method = method
        self.statuses: dict[int, Any] = {}

    def requests(self, status: int) -> Any:
        """The request counter of this route and method for `status`."""
        child = self.statuses.get(status)
        if child is None:
            child = self.statuses[status] = REQUESTS.labels(self._method, self.route, str(status))
        return child


async def run_route(
    request: web.Request, handler: Handler, validation: RouteValidation | None
) -> web.StreamResponse:
    """A route's own work: its request validated by its schemas, then its handler."""
    if validation is not None:
        await validation.apply(request)
    return await handler(request)


# A request id that the client did not send: unique per process, cheap to make.
_RID_PREFIX = os.urandom(8).hex()
_rid_counter = itertools.count(1)


class Edge:
    """The one middleware: request ids, access log and metrics, deprecation headers, trusted
    forwarding, request validation, and every error rendered in the route's dialect.

    One middleware rather than five: each layer costs a coroutine and a frame
    per request. Deprecation headers are added after the error renderer, so
    errors carry them too.

    Two sets of proxies: the API routes believe X-Forwarded-For/-Proto/-Host
    only from `server` (`server.trusted_proxies`), and then see the client's
    address as `request.remote`; `/auth/check` is told only whether its peer
    is one of `check` (`auth_check.trusted_proxies`) and reads the forwarding
    headers itself (service.api.authz), since they describe another request.

    A request takes one of three paths to its handler: `/auth/check` (no
    validation), a trusted proxy's forwarded request (checked, then
    `run_route` on aiohttp-remotes' clone), and the direct path, which is
    `run_route` written out in the middleware so that most requests pay no
    coroutine of their own for it (tests/api/test_edge_paths.py holds the two
    to the same outcome).
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
        # Keyed by the route object: a route's facts, its dialect included, in one look-up.
        # Bounded by the route table; unmatched requests by the methods HTTP defines.
        self._routes: dict[tuple[Any, str], RouteInfo] = {}
        self._unmatched: dict[str, RouteInfo] = {}
        self._validations = Validations()

    def _info(self, request: web.Request) -> RouteInfo:
        route = request.match_info.route
        method = request.method
        info = self._routes.get((route, method))
        if info is not None:
            return info
        resource = route.resource
        if resource is None:  # 404 / 405: a new system route per request
            if method not in hdrs.METH_ALL:
                method = "OTHER"
            info = self._unmatched.get(method)
            if info is None:
                info = RouteInfo("unmatched", method, None, None, self._table)
                self._unmatched[method] = info
            return info
        pattern = resource.canonical
        validation = self._validations.for_handler(request.app, route.handler)
        info = RouteInfo(pattern, method, dialect_of_path(pattern), validation, self._table)
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
                    # The direct path: `run_route`, written out.
                    if info.validation is not None:
                        await info.validation.apply(request)
                    response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    status = exc.status
                    self._decorate(exc.headers, rid, info)
                    raise
                response = render_exception(request, self._dialect(info, request), exc)
            except asyncio.CancelledError:
                # The client left and aiohttp cancelled the handler: nginx's
                # "client closed request", not a server error.
                status = 499
                raise
            except Exception as exc:
                response = render_exception(request, self._dialect(info, request), exc)
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
    def _dialect(info: RouteInfo, request: web.Request) -> Dialect:
        """The route's dialect; for an unmatched request (404, 405), its path's."""
        return info.dialect if info.dialect is not None else dialect_of_path(request.path)

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
        # (The body is read after the clone: aiohttp refuses to clone a read request.)
        return await filtered.middleware(
            request, functools.partial(run_route, handler=handler, validation=info.validation)
        )
